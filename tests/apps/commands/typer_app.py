"""A typer CLI with a dozen commands of varied signatures; each prints what it parsed.

``build(decorate)`` returns the same app with or without ``@lazyotel.trace_command`` on every
command, so tests can compare them. Run as a script, ``DEMO_DECORATE=1`` picks the decorated
one (which also bootstraps lazyotel with ``DEMO_EXPORTER``, default ``none``).
"""

from __future__ import annotations

import enum
import json
import os
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional, Tuple

import typer

import lazyotel


class Color(str, enum.Enum):
    red = "red"
    green = "green"


def show(**values: Any) -> None:
    typer.echo(json.dumps(values, default=repr, sort_keys=True))


def build(decorate: bool) -> typer.Typer:
    trace: Callable[[Any], Any] = lazyotel.trace_command if decorate else (lambda fn: fn)
    app = typer.Typer(add_completion=False, help="Demo tool.")
    data = typer.Typer(help="Data commands.")
    app.add_typer(data, name="data")

    @app.command()
    @trace
    def hello(name: str) -> None:
        """Say hello to NAME."""
        show(name=name)

    @app.command()
    @trace
    def add(a: int, b: int = 2) -> None:
        """Add two numbers."""
        show(total=a + b, a=a, b=b)

    @app.command()
    @trace
    def greet(
        name: str = typer.Option("world", "--name", "-n", help="Who to greet."),
        times: int = typer.Option(1, help="How many times."),
    ) -> None:
        """Greet someone, several times."""
        show(name=name, times=times)

    @app.command()
    @trace
    def paint(color: Color = Color.red) -> None:
        """Pick a color."""
        show(color=color.value, type=type(color).__name__)

    @app.command()
    @trace
    def tag(tags: Optional[List[str]] = typer.Option(None, "--tag", help="Repeatable.")) -> None:
        """Collect tags."""
        show(tags=tags)

    @app.command()
    @trace
    def flags(verbose: bool = False, force: bool = typer.Option(False, "--force/--no-force")) -> None:
        """Boolean flags."""
        show(verbose=verbose, force=force)

    @app.command()
    @trace
    def read(path: Path, missing_ok: bool = True) -> None:
        """Read PATH."""
        show(path=str(path), type=type(path).__name__, missing_ok=missing_ok)

    @app.command("ctx-info")
    @trace
    def ctx_info(ctx: typer.Context, level: int = 1) -> None:
        """Use the context."""
        show(info_name=ctx.info_name, parent=ctx.parent.info_name if ctx.parent else None, level=level)

    @app.command()
    @trace
    def limit(n: Annotated[int, typer.Option(min=0, max=10, help="Bounded.")] = 3) -> None:
        """An Annotated, bounded option."""
        show(n=n)

    @app.command()
    @trace
    def maybe(label: Optional[str] = None, ratio: float = 0.5) -> None:
        """Optional and float values."""
        show(label=label, ratio=ratio)

    @app.command()
    @trace
    def point(xy: Tuple[int, int] = (0, 0)) -> None:
        """A tuple option."""
        show(xy=list(xy))

    @app.command()
    @trace
    def login(
        user: str,
        password: str = typer.Option(..., envvar="DEMO_PASSWORD", help="Secret."),
        verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
    ) -> None:
        """Log in as USER."""
        show(user=user, password_length=len(password), verbose=verbose)

    @app.command("quit")
    @trace
    def quit_(code: int) -> None:
        """Exit with CODE."""
        show(code=code)
        raise typer.Exit(code)

    @app.command()
    @trace
    def boom() -> None:
        """Fail."""
        raise ValueError("boom")

    @data.command("show")
    @trace
    def data_show(item_id: int, fmt: str = "json") -> dict[str, str]:
        """Show one item."""
        show(item_id=item_id, fmt=fmt)
        return {"operation_id": f"op-{item_id}"}

    return app


if __name__ == "__main__":
    decorate = os.environ.get("DEMO_DECORATE") == "1"
    if decorate:
        lazyotel.bootstrap(service_name="demo-typer", exporter=os.environ.get("DEMO_EXPORTER", "none"))
    build(decorate)()
