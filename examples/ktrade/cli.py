"""ktrade's entry point: the typer app, its groups, and all of its telemetry set-up.

Telemetry is the ``lazyotel.bootstrap`` call below (its collector and resource read from the
settings, only when telemetry starts), one ``lazyotel.trace_app`` call that traces every
command, and ``--url`` moving the exporter to the API host's collector. ``--help`` imports no
OpenTelemetry, wrapt or httpx, and not the settings; under pytest the commands run untraced.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

import lazyotel

from . import _api, data, models, ops


def telemetry_endpoint() -> Optional[str]:
    """The collector from the settings (None: ``OTEL_EXPORTER_OTLP_ENDPOINT`` and friends)."""
    from . import settings  # costly in a real CLI: imported only when telemetry starts

    return settings.load().otlp_endpoint


def telemetry_resource() -> dict[str, str]:
    from . import settings

    loaded = settings.load()
    return {"service.version": loaded.version, "deployment.environment.name": loaded.environment}


# Called once when the first span is made, never for --help, never under pytest.
lazyotel.bootstrap(
    service_name="ktrade",
    instrument=["httpx"],
    endpoint=telemetry_endpoint,
    resource_attributes=telemetry_resource,
)

app = typer.Typer(
    name="ktrade",
    help="ktrade: market data, models and operations against the ktrade API.",
    add_completion=False,
    no_args_is_help=True,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(ops.app, name="ops")
# Every command, span "cli.<group>.<command>". `models train` and `ops follow` do their work in a
# coroutine and a generator decorated by hand (spans cli.models_train and cli.ops_follow, which
# cover the async work and the whole stream), so their command spans would only wrap those.
lazyotel.trace_app(app, exclude=["models.train", "ops.follow"])


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
        # Wins over the settings' endpoint; without --url, telemetry goes where the settings
        # (KTRADE_OTLP_ENDPOINT) or the standard OTEL_EXPORTER_OTLP_ENDPOINT say.
        lazyotel.reconfigure(endpoint=_api.collector_url(url, otlp_port))
    ctx.obj = _api.State(url or _api.DEFAULT_URL, json_output)


def main() -> None:
    """The console-script entry point."""
    app()
