"""A click CLI with a dozen commands of varied signatures; each prints what it parsed.

``build(decorate)`` returns the same group with or without ``@lazyotel.trace_command`` on every
callback (placed under, between and over the option decorators), so tests can compare them.
Run as a script, ``DEMO_DECORATE=1`` picks the decorated one (which also bootstraps lazyotel
with ``DEMO_EXPORTER``, default ``none``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

import lazyotel


def show(**values: Any) -> None:
    click.echo(json.dumps(values, default=repr, sort_keys=True))


def build(decorate: bool) -> click.Group:
    trace: Callable[[Any], Any] = lazyotel.trace_command if decorate else (lambda fn: fn)

    @click.group(help="Demo tool.")
    @click.option("--env", default="dev", help="Environment.")
    @click.pass_context
    @trace
    def cli(ctx: click.Context, env: str) -> None:
        ctx.obj = {"env": env}

    @cli.command()
    @click.argument("name")
    @trace
    def hello(name: str) -> None:
        """Say hello to NAME."""
        show(name=name)

    @cli.command()
    @click.argument("a", type=int)
    @click.argument("b", type=int, default=2, required=False)
    @trace
    def add(a: int, b: int) -> None:
        """Add two numbers."""
        show(total=a + b, a=a, b=b)

    @cli.command()
    @click.option("--name", "-n", default="world", show_default=True, help="Who to greet.")
    @trace  # between the options: click's collected parameters must survive
    @click.option("--times", type=int, default=1, help="How many times.")
    def greet(name: str, times: int) -> None:
        """Greet someone, several times."""
        show(name=name, times=times)

    @cli.command()
    @click.option("--color", type=click.Choice(["red", "green"]), default="red")
    @trace
    def paint(color: str) -> None:
        """Pick a color."""
        show(color=color)

    @cli.command()
    @trace  # over the options
    @click.option("--tag", "tags", multiple=True, help="Repeatable.")
    def tag(tags: tuple[str, ...]) -> None:
        """Collect tags."""
        show(tags=list(tags))

    @cli.command()
    @click.option("--verbose", is_flag=True)
    @click.option("--force/--no-force", default=False)
    @trace
    def flags(verbose: bool, force: bool) -> None:
        """Boolean flags."""
        show(verbose=verbose, force=force)

    @cli.command()
    @click.argument("path", type=click.Path(path_type=Path))
    @trace
    def read(path: Path) -> None:
        """Read PATH."""
        show(path=str(path), type=type(path).__name__)

    @cli.command("ctx-info")
    @click.option("--level", default=1, type=int)
    @click.pass_context
    @trace
    def ctx_info(ctx: click.Context, level: int) -> None:
        """Use the context."""
        show(info_name=ctx.info_name, env=ctx.obj["env"], level=level)

    @cli.command()
    @click.option("--n", type=click.IntRange(0, 10), default=3, help="Bounded.")
    @trace
    def limit(n: int) -> None:
        """A bounded option."""
        show(n=n)

    @cli.command()
    @click.option("--xy", nargs=2, type=int, default=(0, 0))
    @trace
    def point(xy: tuple[int, int]) -> None:
        """A tuple option."""
        show(xy=list(xy))

    @cli.command()
    @click.argument("user")
    @click.option("--password", envvar="DEMO_PASSWORD", required=True, help="Secret.")
    @click.option("-v", "--verbose", count=True)
    @trace
    def login(user: str, password: str, verbose: int) -> None:
        """Log in as USER."""
        show(user=user, password_length=len(password), verbose=verbose)

    @cli.command("env")
    @click.pass_obj
    @trace
    def env_(obj: dict[str, str]) -> None:
        """Show the group's object."""
        show(obj=obj)

    @cli.command("quit")
    @click.argument("code", type=int)
    @trace
    def quit_(code: int) -> None:
        """Exit with CODE."""
        show(code=code)
        sys.exit(code)

    @cli.command()
    @trace
    def boom() -> None:
        """Fail."""
        raise click.ClickException("boom")

    return cli


if __name__ == "__main__":
    decorate = os.environ.get("DEMO_DECORATE") == "1"
    if decorate:
        lazyotel.bootstrap(service_name="demo-click", exporter=os.environ.get("DEMO_EXPORTER", "none"))
    build(decorate)()
