"""ktrade with eager OpenTelemetry set-up: the "before" of the benchmarks.

What a CLI gets when it sets telemetry up the usual way, at start-up, before any command:
the SDK, a batch processor with the OTLP/gRPC exporter, httpx instrumentation, and a
hand-written decorator like ktrdr's ``trace_cli_command`` (span ``cli.<name>``, ``cli.command``,
``cli.args``, ``operation.id``) on every command. The same command modules run under it through a stand-in
``lazyotel``. ``--url`` does not move the exporter here; use ``OTEL_EXPORTER_OTLP_ENDPOINT``::

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python -m examples.ktrade.eager --help

Run it, do not import it: the stand-in replaces ``lazyotel`` in ``sys.modules``.
"""

from __future__ import annotations

import functools
import json
import sys
import types
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def set_up() -> Any:
    """The usual module-level set-up; returns the tracer commands use."""
    provider = TracerProvider(resource=Resource.create({"service.name": "ktrade"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    return trace.get_tracer("ktrade")


def hand_written_decorator(tracer: Any) -> Any:
    """A minimal ``trace_cli_command(name)``, as CLIs write by hand (sync and async)."""

    def trace_command(name: str, **options: Any) -> Any:
        def decorate(func: Any) -> Any:
            def attributes(args: Any, kwargs: Any) -> dict[str, str]:
                return {
                    "cli.command": name,
                    "cli.args": json.dumps({"args": args, "kwargs": kwargs}, default=str),
                }

            def finish(span: Any, result: Any) -> Any:
                if isinstance(result, dict) and "operation_id" in result:
                    span.set_attribute("operation.id", result["operation_id"])
                return result

            if func.__code__.co_flags & 0x80:  # CO_COROUTINE

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    with tracer.start_as_current_span(
                        f"cli.{name}", attributes=attributes(args, kwargs)
                    ) as span:
                        return finish(span, await func(*args, **kwargs))

                return async_wrapper

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer.start_as_current_span(f"cli.{name}", attributes=attributes(args, kwargs)) as span:
                    return finish(span, func(*args, **kwargs))

            return wrapper

        return decorate

    return trace_command


def hand_written_trace_app(trace_command: Any) -> Any:
    """The hand-written decorator on every command, as the CLI had it before (span ``cli.data_show``)."""

    def trace_app(app: Any, exclude: Any = (), **options: Any) -> Any:
        for group in app.registered_groups:
            for info in group.typer_instance.registered_commands:
                if f"{group.name}.{info.name}" not in exclude:
                    info.callback = trace_command(f"{group.name}_{info.name}")(info.callback)
        return app

    return trace_app


def install_stand_in(tracer: Any) -> None:
    """Make ``import lazyotel`` give the hand-written decorator and no-op set-up calls."""
    stand_in = types.ModuleType("lazyotel", "Eager OpenTelemetry (examples.ktrade.eager).")
    stand_in.bootstrap = stand_in.reconfigure = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    stand_in.trace_command = hand_written_decorator(tracer)  # type: ignore[attr-defined]
    stand_in.trace_app = hand_written_trace_app(stand_in.trace_command)  # type: ignore[attr-defined]
    sys.modules["lazyotel"] = stand_in


if __name__ == "__main__":
    install_stand_in(set_up())
    from examples.ktrade.cli import main

    main()
