"""A click CLI with nested groups, a lazy-loading group and commands added after the
``lazyotel.trace_app`` call (made when ``TRACE_APP=1``). Run as a script."""

from __future__ import annotations

import os

import click

import lazyotel

lazyotel.bootstrap("click-cli")


@click.group(help="A click tool.")
@click.option("--verbose", is_flag=True, help="Say more.")
def cli(verbose: bool) -> None:
    """A click tool."""


@cli.group(help="Data commands.")
def data() -> None:
    """Data commands."""


@data.command("show")
@click.argument("symbol")
@click.option("--password", default="", help="A secret.")
@click.pass_context
def show(ctx: click.Context, symbol: str, password: str) -> None:
    """Show a symbol."""
    click.echo(f"show {symbol}")


class LazyGroup(click.Group):
    """Loads its commands on demand, as CLIs do to keep start-up cheap."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["build"]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name != "build":
            return None

        @click.command("build", help="Built on demand.")
        @click.option("--fast", is_flag=True)
        def build(fast: bool) -> None:
            click.echo(f"build fast={fast}")

        return build


cli.add_command(LazyGroup("lazy", help="Lazily loaded."))

if os.environ.get("TRACE_APP") == "1":
    lazyotel.trace_app(cli)


@cli.command("later")
def later() -> None:
    """Added after trace_app."""
    click.echo("later")


@click.command("direct")
def direct() -> None:
    """Added to the commands dict directly."""
    click.echo("direct")


data.commands["direct"] = direct

if __name__ == "__main__":
    cli()
