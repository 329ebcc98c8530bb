"""The CLI of ``bench_trace_app.py``: the same commands as a click app and as a typer app.

``python benchmarks/_trace_app_cli.py VARIANT FRAMEWORK [ARGS...]``, where VARIANT is

- ``plain``: no telemetry;
- ``lazyotel``: ``lazyotel.bootstrap(...)`` and one ``lazyotel.trace_app(app)`` call;
- ``otel-click``: what ``opentelemetry-instrumentation-click``'s documentation asks for: an SDK
  provider with a batch processor and the OTLP/HTTP exporter, and
  ``ClickInstrumentor().instrument()``, at start-up.

FRAMEWORK is ``click`` or ``typer``. Groups ``data`` (show, load, fail), ``models`` (list, show)
and ``ops`` (list, detach). ``data fail`` exits 3, ``ops detach`` raises ``Exit(0)``.
"""

from __future__ import annotations

import sys

VARIANT, FRAMEWORK = sys.argv[1], sys.argv[2]
sys.argv = [f"{FRAMEWORK}-cli", *sys.argv[3:]]  # what the user typed, as the spans record it

if VARIANT == "otel-click":
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.click import ClickInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"{FRAMEWORK}-cli"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    ClickInstrumentor().instrument()


def build_click() -> object:
    import click

    @click.group(help="A CLI with three groups.")
    @click.option("--url", default="http://127.0.0.1:8000", help="API URL.")
    def cli(url: str) -> None:
        """A CLI with three groups."""

    @cli.group(help="Market data.")
    def data() -> None:
        """Market data."""

    @data.command("show")
    @click.argument("symbol")
    @click.option("--rows", default=10, help="Rows to show.")
    @click.option("--token", default="", help="API token.")
    def data_show(symbol: str, rows: int, token: str) -> None:
        """Show a symbol."""
        click.echo(f"{symbol}: {rows} rows")

    @data.command("load")
    @click.argument("symbol")
    def data_load(symbol: str) -> None:
        """Load a symbol."""
        click.echo(f"loaded {symbol}")

    @data.command("fail")
    def data_fail() -> None:
        """Fail with exit code 3."""
        sys.exit(3)

    @cli.group(help="Models.")
    def models() -> None:
        """Models."""

    @models.command("list")
    def models_list() -> None:
        """List models."""
        click.echo("momentum meanrev")

    @models.command("show")
    @click.argument("name")
    def models_show(name: str) -> None:
        """Show a model."""
        click.echo(name)

    @cli.group(help="Operations.")
    def ops() -> None:
        """Operations."""

    @ops.command("list")
    def ops_list() -> None:
        """List operations."""
        click.echo("op-1")

    @ops.command("detach")
    def ops_detach() -> None:
        """Detach: exit 0 through click's Exit."""
        raise click.exceptions.Exit(0)

    return cli


def build_typer() -> object:
    import typer

    app = typer.Typer(help="A CLI with three groups.", add_completion=False)
    data, models, ops = (typer.Typer(help=h) for h in ("Market data.", "Models.", "Operations."))
    app.add_typer(data, name="data")
    app.add_typer(models, name="models")
    app.add_typer(ops, name="ops")

    @app.callback()
    def root(url: str = typer.Option("http://127.0.0.1:8000", help="API URL.")) -> None:
        """A CLI with three groups."""

    @data.command("show")
    def data_show(symbol: str, rows: int = 10, token: str = typer.Option("", help="API token.")) -> None:
        """Show a symbol."""
        typer.echo(f"{symbol}: {rows} rows")

    @data.command("load")
    def data_load(symbol: str) -> None:
        """Load a symbol."""
        typer.echo(f"loaded {symbol}")

    @data.command("fail")
    def data_fail() -> None:
        """Fail with exit code 3."""
        raise typer.Exit(3)

    @models.command("list")
    def models_list() -> None:
        """List models."""
        typer.echo("momentum meanrev")

    @models.command("show")
    def models_show(name: str) -> None:
        """Show a model."""
        typer.echo(name)

    @ops.command("list")
    def ops_list() -> None:
        """List operations."""
        typer.echo("op-1")

    @ops.command("detach")
    def ops_detach() -> None:
        """Detach: exit 0 through typer's Exit."""
        raise typer.Exit(0)

    return app


app = build_click() if FRAMEWORK == "click" else build_typer()

if VARIANT == "lazyotel":
    import lazyotel

    lazyotel.bootstrap(service_name=f"{FRAMEWORK}-cli")
    lazyotel.trace_app(app)

if __name__ == "__main__":
    app()  # type: ignore[operator]
