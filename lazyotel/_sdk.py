"""The SDK side of activation: provider, batching, the guarded exporter, the log funnel.

Imported by ``_provider.activate()`` only, on the first real span. Everything that can go
wrong while exporting is caught here and turned into at most one warning.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from . import _config, _follow
from ._provider import arm_instrumentations, call_bounded, describe

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span

    from ._config import Settings
    from ._provider import Runtime

#: Queue large enough that a burst of 10,000 spans is not dropped before the exit flush.
#: ``OTEL_BSP_MAX_QUEUE_SIZE`` still wins (the SDK reads it when we pass nothing).
DEFAULT_MAX_QUEUE_SIZE = 16384
_DEFAULT_PORTS = {"http/protobuf": 4318, "grpc": 4317}


class Unavailable(Exception):
    """Telemetry cannot run as configured (a missing package, an unknown exporter name)."""


# -- activation -------------------------------------------------------------------------------


def activate(runtime: Runtime, settings: Settings) -> None:
    """Install lazyotel's provider, or adopt a real one someone else installed."""
    if _follow.foreign_provider() is not None:
        # Someone else owns telemetry: install nothing, override nothing, warn about nothing.
        _config.debug("lazyotel: using the tracer provider already installed")
    else:
        funnel_otel_logging()
        provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
        switch = SwitchProcessor(build_processor(settings))
        provider.add_span_processor(switch)
        runtime.own, runtime.switch = provider, switch
        _follow.install_global()
    arm_instrumentations()


def apply_live(runtime: Runtime, settings: Settings, changed: list[str]) -> None:
    """Reconfigure a running pipeline: swap the exporter, rebuild the resource."""
    if runtime.own is not None and runtime.switch is not None:  # None after shutdown()
        if any(name in changed for name in _config.EXPORT_PARAMS):
            new = build_processor(settings)
            old = runtime.switch.replace(new)
            if old is not None:
                from ._provider import run_bounded

                old_exporter = getattr(old, "lazyotel_exporter", None)
                new_exporter = getattr(new, "lazyotel_exporter", None)
                if old_exporter is not None and new_exporter is not None:
                    # An exporter object the user passed serves on in the new pipeline.
                    old_exporter.keep_inner = old_exporter.inner is new_exporter.inner
                run_bounded(old.shutdown, settings.effective_flush_timeout(), "swap")
        if any(name in changed for name in _config.RESOURCE_PARAMS):
            # A provider's resource is fixed: build a new one around the same processor.
            # Following tracers pick it up on their next span.
            provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
            provider.add_span_processor(runtime.switch)
            runtime.own = provider


def build_resource(settings: Settings) -> Resource:
    """Arguments win; ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` fill the rest."""
    attributes: dict[str, Any] = dict(settings.resource_attributes or {})
    if settings.service_name is not None:
        attributes["service.name"] = settings.service_name
    return Resource.create(attributes)


# -- processors ---------------------------------------------------------------------------------


class SwitchProcessor(SpanProcessor):
    """The provider's one processor: forwards to a batch processor that can be swapped.

    Counts the spans that ended so the exit can report how many never reached the exporter.
    """

    def __init__(self, inner: SpanProcessor | None) -> None:
        self._inner = inner
        self.ended = 0
        self.exporters: list[GuardedExporter] = []
        self._track(inner)

    def _track(self, inner: SpanProcessor | None) -> None:
        exporter = getattr(inner, "lazyotel_exporter", None)
        if exporter is not None:
            self.exporters.append(exporter)

    def replace(self, inner: SpanProcessor | None) -> SpanProcessor | None:
        old, self._inner = self._inner, inner
        self._track(inner)
        return old

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        inner = self._inner
        if inner is not None:
            inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1
        inner = self._inner
        if inner is not None:
            inner.on_end(span)

    def shutdown(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        inner = self._inner
        return True if inner is None else inner.force_flush(timeout_millis)

    def report(self) -> None:
        """Log, at debug level, how many ended spans were not exported."""
        if not self.exporters:
            return
        exported = sum(exporter.exported for exporter in self.exporters)
        dropped = max(self.ended - exported, 0)
        log = _config.logger()
        if dropped:
            log.debug("lazyotel: %d of %d spans dropped (not exported)", dropped, self.ended)
        else:
            log.debug("lazyotel: all %d spans exported", self.ended)


def build_processor(settings: Settings) -> SpanProcessor | None:
    """The batch processor for the configured exporter; None for ``none``."""
    exporter = build_exporter(settings)
    if exporter is None:
        return None
    kwargs: dict[str, Any] = {}
    if "OTEL_BSP_MAX_QUEUE_SIZE" not in os.environ:
        kwargs["max_queue_size"] = DEFAULT_MAX_QUEUE_SIZE
    processor = BatchSpanProcessor(exporter, **kwargs)
    processor.lazyotel_exporter = exporter  # type: ignore[attr-defined]
    return processor


def exporter_name(settings: Settings) -> Any:
    """The exporter argument, else the first of ``OTEL_TRACES_EXPORTER``, else ``otlp``."""
    if settings.exporter is not None:
        return settings.exporter
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower()
    return raw or "otlp"


def otlp_protocol(settings: Settings) -> str:
    protocol = _config.otlp_protocol(settings.protocol)
    if protocol not in _config.PROTOCOLS:
        msg = f"OTLP protocol {protocol!r} is not supported; use 'http/protobuf' or 'grpc'"
        raise Unavailable(msg)
    return protocol


def otlp_endpoint(settings: Settings, protocol: str) -> str:
    """The URL spans are sent to, as the exporters would resolve it (for probing and logs).

    ``endpoint`` is a base URL like ``OTEL_EXPORTER_OTLP_ENDPOINT``: for OTLP/HTTP the
    signal path ``/v1/traces`` is appended unless the URL already has a path.
    """
    env = os.environ
    if settings.endpoint is not None:
        base, signal_specific = settings.endpoint, False
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        base, signal_specific = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], True
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        base, signal_specific = env["OTEL_EXPORTER_OTLP_ENDPOINT"], False
    else:
        base, signal_specific = f"http://localhost:{_DEFAULT_PORTS[protocol]}", False
    base = base.strip()
    if protocol == "grpc" or signal_specific:
        return base
    if settings.endpoint is not None and urlsplit(base).path not in ("", "/"):
        return base
    return base.rstrip("/") + "/v1/traces"


def build_exporter(settings: Settings) -> SpanExporter | None:
    spec = exporter_name(settings)
    if spec == "none":
        return None
    if spec == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: a CLI's stdout belongs to its users (pipes, --json output).
        return GuardedExporter(lambda: ConsoleSpanExporter(out=sys.stderr), None, "console")
    if spec == "otlp":
        protocol = otlp_protocol(settings)
        path, extra = _config._EXPORTER_PACKAGES[protocol]
        if not _config.package_installed(path):
            msg = f"the OTLP {protocol} exporter is not installed (pip install 'lazyotel[{extra}]')"
            raise Unavailable(msg)
        endpoint = otlp_endpoint(settings, protocol)
        exporter = GuardedExporter(_otlp_factory(settings, protocol, endpoint), endpoint, f"OTLP {protocol}")
        # Nobody chose the default localhost collector: its absence is not worth a warning on
        # every run of a developer's CLI (it is logged at debug level).
        exporter.quiet_unreachable = settings.endpoint is None and not any(
            os.environ.get(name)
            for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
        return exporter
    if isinstance(spec, str):
        return GuardedExporter(_entry_point_factory(spec), None, spec)
    if hasattr(spec, "export") and not isinstance(spec, type):  # an object; a class is a factory
        return GuardedExporter(lambda: spec, None, type(spec).__name__)
    return GuardedExporter(spec, None, getattr(spec, "__name__", "exporter"))


def _otlp_factory(settings: Settings, protocol: str, endpoint: str) -> Callable[[], SpanExporter]:
    headers = dict(settings.headers) if settings.headers is not None else None

    def make() -> SpanExporter:
        # Only what the arguments say: the exporters read the OTEL_* variables themselves.
        kwargs: dict[str, Any] = {}
        if settings.endpoint is not None:
            kwargs["endpoint"] = endpoint
        if headers is not None:
            kwargs["headers"] = headers
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc(**kwargs)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http(**kwargs)

    return make


def _entry_point_factory(name: str) -> Callable[[], SpanExporter]:
    """An exporter named in ``OTEL_TRACES_EXPORTER`` other than otlp/console/none."""
    from importlib.metadata import entry_points

    found = [ep for ep in _group("opentelemetry_traces_exporter", entry_points) if ep.name == name]
    if not found:
        msg = f"OTEL_TRACES_EXPORTER={name!r}: no such exporter is installed"
        raise Unavailable(msg)

    def make() -> SpanExporter:
        return found[0].load()()  # type: ignore[no-any-return]

    return make


def _group(group: str, entry_points: Any) -> Sequence[Any]:
    eps = entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=group))
    return list(eps.get(group, ()))  # Python 3.9


# -- the guarded exporter -----------------------------------------------------------------------


class GuardedExporter(SpanExporter):
    """Wraps the real exporter so that it never hurts the command.

    - Before the first export, and after any failure, one TCP connect to the collector
      decides whether it is worth trying: a refused or unreachable collector drops the batch
      at once instead of entering the exporter's retry back-off (up to 7 s per batch).
    - Any exception becomes a failed export and at most one warning.

    The real exporter is built at activation, and the command waits for it (see ``_build``).
    Building it in the background instead took its import (``requests`` or ``grpc``) off the
    first span's path, but made whole runs slower (a traced ``data load`` of examples/ktrade:
    968 ms, against 828 ms waiting for it and 845 ms for an eager set-up: the import competes
    with the command for the GIL) and needed exit hooks to keep short commands' spans.
    """

    def __init__(self, factory: Callable[[], Any], endpoint: str | None, label: str) -> None:
        self._label = label
        self._endpoint = endpoint
        self.inner: Any = _build(factory, label)
        self.keep_inner = False  # shutdown() leaves the real exporter running (it serves on)
        self._probe_next = endpoint is not None and not _proxied()
        self._closed = False
        self.quiet_unreachable = False
        self.exported = 0
        self.failed = 0

    def _where(self) -> str:
        return self._label + (f" at {redact_url(self._endpoint)}" if self._endpoint else "")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed or (self._probe_next and not self._reachable()):
            self.failed += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio.CancelledError would end the batch thread
            _config.warn_once("lazyotel: span export to %s failed (%s)", self._where(), describe(exc))
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
            self._probe_next = False
        else:
            self.failed += len(spans)
            self._probe_next = self._endpoint is not None and not _proxied()
        return result  # type: ignore[no-any-return]

    def _reachable(self, timeout: float = 1.0) -> bool:
        import socket

        endpoint = str(self._endpoint)
        try:
            parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
            host = parts.hostname or "localhost"
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # "http://[::1", "http://host:port"
            return True  # let the exporter report its own URL problem
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            report = _config.debug if self.quiet_unreachable else _config.warn_once
            report(
                "lazyotel: cannot reach the collector (%s at %s); spans of this run are dropped",
                type(exc).__name__,
                redact_url(str(self._endpoint)),
            )
            return False
        return True

    def shutdown(self) -> None:
        self._closed = True
        if not self.keep_inner:
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


#: How long activation waits for an exporter to be built. An import takes a fraction of a
#: second; only a broken factory (one that connects to a hung host, say) takes longer.
BUILD_TIMEOUT = 5.0


def _build(factory: Callable[[], Any], label: str) -> Any:
    """Call ``factory`` in a daemon thread and wait for it at most ``BUILD_TIMEOUT`` seconds.

    The command waits (the thread has the interpreter to itself), but never forever.
    """
    outcome = call_bounded(factory, BUILD_TIMEOUT, "exporter-build")
    if outcome is None:
        msg = f"the {label} exporter was not built within {BUILD_TIMEOUT:.0f} s"
        raise Unavailable(msg)
    built, value = outcome
    if not built:
        if isinstance(value, Exception):
            raise value
        # A BaseException from the factory's thread (asyncio.CancelledError, even SystemExit)
        # is that thread's fault, never a signal to this one: it must not end the command.
        msg = f"the {label} exporter factory raised {describe(value)}"
        raise Unavailable(msg)
    return value


def _proxied() -> bool:
    """With a proxy configured, the collector may be reachable only through it: do not probe."""
    return any(key.lower() in ("http_proxy", "https_proxy", "all_proxy") for key in os.environ)


def redact_url(url: str | None) -> str:
    """The URL without user info, query or fragment (they can carry credentials)."""
    if not url:
        return ""
    parts = urlsplit(url if "://" in url else f"//{url}")  # "host:port" has no scheme
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{host}{port}{parts.path}"


# -- OpenTelemetry's own logging ---------------------------------------------------------------


class _Funnel(logging.Handler):
    """Receives every ``opentelemetry.*`` record once lazyotel owns telemetry.

    The SDK and exporters log retries, tracebacks and, for a malformed
    ``OTEL_EXPORTER_OTLP_HEADERS`` item, the header itself (opentelemetry.util.re), all to
    the CLI's stderr through logging's last-resort handler. Here a warning or worse becomes
    lazyotel's one warning, without its arguments; details go to ``lazyotel`` at debug level.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            secret_prone = record.name.startswith("opentelemetry.util.re")
            text = record.msg if secret_prone else record.getMessage()
            log = _config.logger()
            if record.levelno >= logging.WARNING and not log.isEnabledFor(logging.DEBUG):
                _config.warn_once(
                    "lazyotel: OpenTelemetry reported a problem (%s); the command is not affected. "
                    "Set the 'lazyotel' logger to DEBUG for details",
                    str(text).splitlines()[0][:120] if not secret_prone else "malformed header",
                )
            else:
                log.debug("%s: %s", record.name, text)
        except Exception:  # noqa: BLE001, S110 - a log handler must never raise
            pass


_FUNNEL = _Funnel()


def funnel_otel_logging() -> None:
    otel = logging.getLogger("opentelemetry")
    if _FUNNEL not in otel.handlers:
        otel.addHandler(_FUNNEL)
        otel.propagate = False


def unfunnel_otel_logging() -> None:
    otel = logging.getLogger("opentelemetry")
    if _FUNNEL in otel.handlers:
        otel.removeHandler(_FUNNEL)
        otel.propagate = True
