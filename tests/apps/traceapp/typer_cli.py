"""A typer CLI with nested groups, traced by one ``lazyotel.trace_app`` call when
``TRACE_APP=1`` (else untouched, for comparing ``--help``).

Some commands and a whole sub-app are registered after the call; one command is decorated by
hand; ``ops.secret`` is excluded; ``data.load`` has options. Run as a script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

import typer

import lazyotel

lazyotel.bootstrap("typer-cli")

app = typer.Typer(help="A tool with groups.", add_completion=False, no_args_is_help=True)
data = typer.Typer(help="Data commands.", no_args_is_help=True)
app.add_typer(data, name="data")

if os.environ.get("TRACE_APP") == "1":
    lazyotel.trace_app(
        app,
        exclude=["ops.secret"],
        options={"data.load": {"attributes": {"team": "quant"}, "capture_args": False}},
    )


@app.callback()
def root(url: Optional[str] = typer.Option(None, "--url", help="API URL.")) -> None:
    """A tool with groups."""
    if url:
        lazyotel.reconfigure(endpoint=url)


@data.command("show")
def show(symbol: str, rows: int = typer.Option(10, help="Rows.")) -> dict:
    """Show a symbol."""
    typer.echo(f"show {symbol} {rows}")
    return {"operation_id": f"op-{symbol}"}


@data.command("load")
def load(symbol: str, token: str = typer.Option("", help="API token.")) -> None:
    """Load a symbol."""
    typer.echo(f"load {symbol}")


@data.command("fail")
def fail(code: int = 3) -> None:
    """Exit with a code."""
    raise typer.Exit(code)


@app.command("hand")
@lazyotel.trace_command("hand_made")
def hand() -> None:
    """Decorated by hand: keeps its own span."""
    typer.echo("hand")


ops = typer.Typer(help="Operations.", no_args_is_help=True)
deep = typer.Typer(help="Deeper.", no_args_is_help=True)
ops.add_typer(deep, name="deep")
app.add_typer(ops, name="ops")  # after trace_app: covered


@ops.command("run")
def run(name: str) -> None:
    """Run an operation; with name 'child', run this CLI again as a subprocess."""
    typer.echo(f"run {name}")
    if name == "child":
        subprocess.run([sys.executable, __file__, "data", "show", "CHILD"], check=True)


@ops.command("secret")
def secret() -> None:
    """Excluded from tracing."""
    typer.echo("secret")


@deep.command("down")
def down(level: int = 1) -> None:
    """Nested two levels deep, registered after trace_app."""
    typer.echo(f"down {level}")


if __name__ == "__main__":
    app()
