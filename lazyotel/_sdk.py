"""The SDK side of activation: the provider, batching, the resource, the log funnel.

A pipeline: imported by the hub (``_provider``) only, on the first real span, and never
importing it (what it needs is passed in). The exporters live in ``_exporters``. Everything
that can go wrong while exporting is caught and turned into at most one warning.
"""

from __future__ import annotations

import _thread
import logging
import os
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import _config, _follow, _handoff, _log
from ._bounded import run_bounded
from ._exporters import _EXPORT_NOTES, DEFAULT_MAX_QUEUE_SIZE, GuardedExporter, build_exporter

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, Span
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ._config import Settings
    from ._state import Runtime


# -- activation -------------------------------------------------------------------------------


def activate(runtime: Runtime, settings: Settings) -> None:
    """Install lazyotel's provider, or adopt a real one someone else installed (the hub then
    arms the instrumentations either way)."""
    if _follow.foreign_provider() is not None:
        # Someone else owns telemetry: install nothing, override nothing, warn about nothing.
        _log.debug("using the tracer provider already installed")
    else:
        funnel_otel_logging()
        provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
        switch = SwitchProcessor(build_processor(settings))
        provider.add_span_processor(switch)
        runtime.own, runtime.switch = provider, switch
        _follow.install_global()


def apply_live(runtime: Runtime, settings: Settings, changed: list[str], flush_timeout: float) -> None:
    """Reconfigure a running pipeline: swap the exporter (the old one flushed within
    ``flush_timeout``), rebuild the resource."""
    if runtime.own is not None and runtime.switch is not None:  # None after shutdown()
        if any(name in changed for name in _config.EXPORT_PARAMS):
            new = build_processor(settings)
            old = runtime.switch.replace(new)
            if old is not None:
                old_exporter = getattr(old, "lazyotel_exporter", None)
                new_exporter = getattr(new, "lazyotel_exporter", None)
                if old_exporter is not None and new_exporter is not None:
                    # An exporter object the user passed serves on in the new pipeline.
                    old_exporter.keep_inner = old_exporter.inner is new_exporter.inner
                run_bounded(old.shutdown, flush_timeout, "swap")
        if any(name in changed for name in _config.RESOURCE_PARAMS):
            # A provider's resource is fixed: build a new one around the same processor.
            # Following tracers pick it up on their next span.
            provider = TracerProvider(resource=build_resource(settings), shutdown_on_exit=False)
            provider.add_span_processor(runtime.switch)
            runtime.own = provider


def build_resource(settings: Settings) -> Resource:
    """Arguments win; ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` fill the rest."""
    return Resource.create(_config.resource_attributes(settings))


# -- processors ---------------------------------------------------------------------------------


class SwitchProcessor(SpanProcessor):
    """The provider's one processor: forwards to a batch processor that can be swapped.

    Keeps the books of every span it hands on (see ``GuardedExporter``'s counters), so that
    the exit can say how many were not delivered, and why.
    """

    def __init__(self, inner: SpanProcessor | None) -> None:
        self._current: tuple[SpanProcessor | None, GuardedExporter | None] = (inner, None)
        self.exporters: list[GuardedExporter] = []
        self._lock = _thread.allocate_lock()  # the counters: command threads end spans at once
        self._track(inner)

    def _track(self, inner: SpanProcessor | None) -> None:
        exporter = getattr(inner, "lazyotel_exporter", None)
        if exporter is not None:
            self.exporters.append(exporter)
        self._current = (inner, exporter)

    def replace(self, inner: SpanProcessor | None) -> SpanProcessor | None:
        old = self._current[0]
        self._track(inner)
        return old

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        inner = self._current[0]
        if inner is not None:
            inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        inner, exporter = self._current
        if inner is None:
            return
        if exporter is not None:
            with self._lock:
                # The SDK's queue drops a span (with a generic log line, no count) when it is
                # full; what it holds is what was handed on and neither taken nor dropped.
                full = exporter.handed - exporter.taken - exporter.overflowed >= exporter.queue_size
                if full and exporter.spill is not None:
                    exporter.spill.keep([span])  # to the spool, for the shipper: not dropped
                    return
                exporter.handed += 1
                if full:
                    exporter.overflowed += 1
        inner.on_end(span)

    def shutdown(self) -> None:
        inner = self._current[0]
        self._current = (None, None)
        if inner is not None:
            inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        inner = self._current[0]
        return True if inner is None else inner.force_flush(timeout_millis)

    def _spill_leftovers(self) -> None:
        """Inline delivery at exit: what is still queued or in flight goes to the spool, for the
        shipper (see ``GuardedExporter.spill_leftovers``)."""
        for exporter in self.exporters:
            if exporter.spill is not None:
                exporter.spill_leftovers()
        spilled = sum(e.spilled for e in self.exporters)
        if spilled:
            _log.debug("%d spans not delivered from the command are in the spool, for the shipper", spilled)

    def report(self, flush_timeout: float) -> None:
        """Say once, at warning level, how many spans were not delivered, and why.

        Every span handed to an exporter ends up exported, failed (with the first reason of
        each kind), dropped by a full queue, or still queued or in flight at the deadline.
        """
        if not self.exporters:
            return
        self._spill_leftovers()
        handed = sum(e.handed for e in self.exporters)
        lost = handed - sum(e.exported + e.spilled for e in self.exporters)
        if lost <= 0:
            _log.debug("all %d spans exported", handed)
            return
        parts: list[tuple[int, str]] = []
        loud = False
        overflowed = sum(e.overflowed for e in self.exporters)
        if overflowed:
            size = max(e.queue_size for e in self.exporters)
            full = f"dropped: the export queue ({size:,} spans) was full; raise OTEL_BSP_MAX_QUEUE_SIZE"
            parts.append((overflowed, full))
            loud = True
        reasons: dict[str, list[Any]] = {}  # kind -> [spans, the first reason, all quiet]
        for exporter in self.exporters:
            for kind, (count, reason, quiet) in exporter.reasons.items():
                entry = reasons.setdefault(kind, [0, reason, True])
                entry[0] += count
                entry[2] = entry[2] and quiet
        for count, reason, quiet in reasons.values():
            parts.append((count, f"not delivered: {reason}"))
            loud = loud or not quiet
        late = lost - overflowed - sum(entry[0] for entry in reasons.values())
        if late > 0:
            silent = [e.url() for e in self.exporters if e.exporting_since is not None and e.url()]
            why = f" (the collector at {silent[0]} had not answered)" if silent else ""
            slow = f"not delivered within flush_timeout={flush_timeout} s{why}; raise LAZYOTEL_FLUSH_TIMEOUT"
            parts.append((late, slow))
            loud = True
        if len(parts) == 1:
            message = f"{lost:,} of {handed:,} spans {parts[0][1]}"
        else:
            detail = "; ".join(f"{count:,} {text}" for count, text in parts)
            message = f"{lost:,} of {handed:,} spans not delivered: {detail}"
        if loud:
            _log.warn_once("%s", message)
        else:  # only the default localhost collector, which nobody chose, was absent
            _log.debug("%s", message)


def build_processor(settings: Settings) -> SpanProcessor | None:
    """Hand-off's processor where hand-off works, else the batch processor for the configured
    exporter; None for ``none``."""
    handoff = _handoff.build(settings)  # None: hand-off cannot work here, export inline
    if handoff is not None:
        return handoff  # type: ignore[return-value]  # a SpanProcessor by duck typing (the SDK is not imported there)
    exporter = build_exporter(settings)
    if exporter is None:
        return None
    kwargs: dict[str, Any] = {}
    if "OTEL_BSP_MAX_QUEUE_SIZE" not in os.environ:
        kwargs["max_queue_size"] = DEFAULT_MAX_QUEUE_SIZE
    processor = BatchSpanProcessor(exporter, **kwargs)
    # The SDK's own reading of OTEL_BSP_MAX_QUEUE_SIZE; a private name, hence the fallback.
    queue_size = getattr(getattr(processor, "_batch_processor", None), "_max_queue_size", None)
    if not isinstance(queue_size, int):
        queue_size = kwargs.get("max_queue_size") or _int_variable("OTEL_BSP_MAX_QUEUE_SIZE", 2048)
    if isinstance(exporter, GuardedExporter):
        exporter.queue_size = queue_size
        exporter.processor = processor
        if exporter.protocol is not None and exporter._endpoint is not None:
            # What inline delivery cannot deliver goes to the spool, for the shipper.
            exporter.spill = _handoff.spill(settings, exporter._endpoint, exporter.protocol)
    processor.lazyotel_exporter = exporter  # type: ignore[attr-defined]
    return processor


def _int_variable(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


# -- OpenTelemetry's and the exporter transports' logging ------------------------------------

#: The exporter's transports. What they log on an export thread is lazyotel's to report.
TRANSPORT_LOGGERS = ("urllib3", "requests", "charset_normalizer", "grpc")
#: Names of the threads that export for lazyotel: the batch processor's worker
#: (``OtelBatchSpanProcessor`` / ``OtelBatchSpanRecordProcessor``) and lazyotel's bounded calls.
EXPORT_THREADS = ("lazyotel-", "OtelBatch")


class _TransportFunnel(logging.Handler):
    """On a transport logger: records from export threads are funnelled, others pass on.

    The command may use ``requests`` itself: its own records (from its own threads) reach
    the application's handlers exactly as if this handler were not there.
    """

    def __init__(self, log: logging.Logger) -> None:
        super().__init__()
        self.log = log
        self.propagate = log.propagate  # what the logger did before lazyotel took it over

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if str(record.threadName).startswith(EXPORT_THREADS):
                _log.funnel_record(record)
                return
            found = any(handler is not self for handler in self.log.handlers)
            current = self.log.parent if self.propagate else None
            while current is not None:  # logging's own propagation, from where it stopped
                for handler in current.handlers:
                    found = True
                    if record.levelno >= handler.level:
                        handler.handle(record)
                current = current.parent if current.propagate else None
            last = logging.lastResort
            if not found and last is not None and record.levelno >= last.level:
                last.handle(record)
        except Exception:  # noqa: BLE001, S110 - a log handler must never raise
            pass


def funnel_otel_logging() -> None:
    """Take over OpenTelemetry's loggers and the transports', while lazyotel owns the export.

    The SDK and exporters log retries and tracebacks (and, for a malformed
    ``OTEL_EXPORTER_OTLP_HEADERS`` item, the header itself); urllib3 logs "Failed to parse
    headers" with the URL, query string included. Left alone they reach the CLI's stderr
    through the application's handlers or logging's last resort. Funnelled, a warning or
    worse becomes lazyotel's one warning and the rest goes to debug, scrubbed of secrets.
    """
    funnel = _log.funnel_opentelemetry()
    if _EXPORT_NOTES not in funnel.filters:  # what an exporter logs is a failure's reason
        funnel.addFilter(_EXPORT_NOTES)
    for name in TRANSPORT_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(handler, _TransportFunnel) for handler in log.handlers):
            _log.take_over(log, _TransportFunnel(log))


# -- lazyotel.testing's capture ---------------------------------------------------------------------


def memory_pipeline(service: str, deterministic_ids: bool) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A provider that records into memory, synchronously, for ``capture_spans()``."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    kwargs: dict[str, Any] = {"shutdown_on_exit": False}
    if deterministic_ids:
        kwargs["id_generator"] = _sequential_ids()
    provider = TracerProvider(resource=Resource.create({"service.name": service}), **kwargs)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _sequential_ids() -> Any:
    """Ids 1, 2, 3... : the same in every run, whatever ``random.seed`` a test sets."""
    import itertools

    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class SequentialIdGenerator(IdGenerator):
        def __init__(self) -> None:
            self._spans = itertools.count(1)
            self._traces = itertools.count(1)

        def generate_span_id(self) -> int:
            return next(self._spans)

        def generate_trace_id(self) -> int:
            return next(self._traces)

    return SequentialIdGenerator()
