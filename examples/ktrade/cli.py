"""ktrade's entry point: the typer app, its groups, and all of its telemetry set-up.

Telemetry is the ``lazyotel.bootstrap`` call below, one ``@lazyotel.trace_command`` per
command, and ``--url`` moving the exporter to the API host's collector. ``--help`` imports no
OpenTelemetry, wrapt or httpx; under pytest the commands run untraced.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

import lazyotel

from . import _api, data, models, ops

lazyotel.bootstrap(service_name="ktrade", instrument=["httpx"])

app = typer.Typer(
    name="ktrade",
    help="ktrade: market data, models and operations against the ktrade API.",
    add_completion=False,
    no_args_is_help=True,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(ops.app, name="ops")


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        Optional[str],
        typer.Option(
            "--url",
            "-u",
            envvar="KTRADE_URL",
            help=f"API base URL [default: {_api.DEFAULT_URL}]. Telemetry follows it: spans go to the "
            "collector on the API's host (see --otlp-port).",
        ),
    ] = None,
    otlp_port: Annotated[
        Optional[int],
        typer.Option(
            envvar="KTRADE_OTLP_PORT",
            help=f"Port of the collector on the --url host [default: {_api.DEFAULT_OTLP_PORT}, "
            "OTLP/HTTP; use 4317 with OTEL_EXPORTER_OTLP_PROTOCOL=grpc].",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """ktrade: market data, models and operations against the ktrade API."""
    if url is not None:
        # Without --url, telemetry goes where OTEL_EXPORTER_OTLP_ENDPOINT says (the standard way).
        lazyotel.reconfigure(endpoint=_api.collector_url(url, otlp_port))
    ctx.obj = _api.State(url or _api.DEFAULT_URL, json_output)


def main() -> None:
    """The console-script entry point."""
    app()
