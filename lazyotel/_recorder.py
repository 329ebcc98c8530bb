"""A recording tracer provider on the OpenTelemetry API alone: the SDK's semantics, none of its cost.

Recording a handful of spans is microseconds of work, yet importing the OpenTelemetry SDK to do
it costs tens of milliseconds per process (metrics API, semantic-convention tables, resource
detection, ``concurrent.futures``). The API is made to be implemented by others: this module
implements ``TracerProvider``, ``Tracer`` and ``Span`` with the SDK's rules for the default
configuration (ids, samplers from ``OTEL_TRACES_SAMPLER``, attribute rules and limits, events,
links, exceptions, status, the resource and instrumentation scopes) and imports only the API.

A finished span is handed to the ``sink`` given at construction as a :class:`RecordedSpan`, which
exposes the read surface of the SDK's ``ReadableSpan`` (so the OTLP encoders read it as they read
the SDK's spans). :func:`unsupported_reason` says when a configuration needs the real SDK.

Pipelines floor: never imports the hub nor anything above it; what it needs is passed in.
Imported only on demand (the API imports below are its whole cost).
"""

from __future__ import annotations

import logging  # noqa: TID253 - the OpenTelemetry API imports it anyway
import os
import threading  # noqa: TID253 - the OpenTelemetry API imports it anyway
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable  # noqa: TID253 - the API imports it anyway

from opentelemetry import trace as trace_api  # noqa: TID253 - this module is the API's implementation
from opentelemetry.attributes import BoundedAttributes  # noqa: TID253
from opentelemetry.trace import (  # noqa: TID253
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util._decorator import _agnosticcontextmanager  # noqa: TID253

from . import _lite
from ._lite import SDK_NAME, Event, Resource, Scope, SpanCore, build_resource, set_items
from ._recorder_setup import (  # re-exported: the hub can call one module
    Limits,
    RandomIds,
    make_sampler,
    sampler_from_env,
    unsupported_reason,
)

__all__ = [
    "SDK_NAME",
    "Event",
    "Limits",
    "RandomIds",
    "RecordedSpan",
    "RecordingProvider",
    "RecordingTracer",
    "Resource",
    "Scope",
    "build_resource",
    "make_sampler",
    "sampler_from_env",
    "unsupported_reason",
]

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.context import Context
    from opentelemetry.util import types

    from ._recorder_setup import Sampler

_log = logging.getLogger("lazyotel")

# -- spans --------------------------------------------------------------------------------------

_PLAIN = _lite._PLAIN  # what every API version keeps as it is


def _bounded(
    maxlen: int | None, attributes: types.Attributes, max_value_len: int | None, immutable: bool = True
) -> BoundedAttributes:
    """``BoundedAttributes(maxlen, attributes, immutable, max_value_len)``, faster for plain values.

    When every key is a non-empty ``str``, every value a plain scalar the API keeps unchanged
    (strings within ``max_value_len``) and nothing overflows ``maxlen``, the API's cleaning is
    the identity: the mapping is copied in as is. Anything else takes the API's own path.
    """
    bounded = BoundedAttributes(maxlen, None, immutable=False, max_value_len=max_value_len)
    if attributes:
        plain = maxlen is None or len(attributes) <= maxlen
        if plain:
            for key, value in attributes.items():
                kind = type(value)
                if (
                    type(key) is not str
                    or not key
                    or kind not in _PLAIN
                    or (kind is str and max_value_len is not None and len(value) > max_value_len)  # type: ignore[arg-type]
                ):
                    plain = False
                    break
        if plain:
            bounded._dict.update(attributes)
        else:
            set_items(bounded, attributes)
    bounded._immutable = immutable
    return bounded


_UNSET = Status(StatusCode.UNSET)
# W3C Trace Context level 2's random-trace-id flag, set by SDK 1.4x; older APIs lack it, and
# their SDKs never set it.
_RANDOM = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | _RANDOM)
_NOT_SAMPLED_RANDOM = TraceFlags(_RANDOM)


class RecordedSpan(SpanCore, trace_api.Span):
    """A recording span while it runs, then the finished record handed to the sink (the API's
    span context, kind, statuses and links; the methods are ``_lite.SpanCore``'s).

    Once ended it is immutable and reads as the SDK's ``ReadableSpan``: ``name``, ``context``,
    ``parent``, ``kind``, ``start_time``, ``end_time``, ``attributes``, ``events``, ``links``,
    ``status``, ``resource``, ``instrumentation_scope`` and the ``dropped_*`` counts.
    """

    __slots__ = ("_context", "_kind", "_limits", "_parent", "_resource")

    def __init__(  # noqa: PLR0917 - positional: it is the hot path
        self,
        tracer: RecordingTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link],
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> None:
        limits = tracer._limits
        self._resource = tracer._resource  # fixed at start, as the SDK's spans keep theirs
        self._limits = limits
        self._context = context
        self._parent = parent
        self._kind = kind
        bounded_attributes = _bounded(
            limits.max_span_attributes, attributes, limits.max_span_attribute_length, immutable=False
        )
        self._start(
            tracer, name, bounded_attributes, start_time, record_exception, set_status_on_exception, _UNSET
        )
        for link in links:
            if link:  # the SDK's rules: invalid ones dropped, the newest kept past the limit
                self.add_link(link.context, link.attributes)

    _STATUS = (Status, StatusCode.ERROR)

    # -- what differs from _lite's spans: the API's span context, kind, resource --

    @property
    def context(self) -> SpanContext:
        return self._context

    def get_span_context(self) -> SpanContext:
        return self._context

    @property
    def parent(self) -> SpanContext | None:
        return self._parent

    @property
    def kind(self) -> SpanKind:
        return self._kind

    @property
    def resource(self) -> Resource:
        return self._resource

    def __repr__(self) -> str:
        return f'RecordedSpan(name="{self._name}", context={self._context})'


# -- tracer and provider ------------------------------------------------------------------------


class RecordingTracer(trace_api.Tracer):
    """Starts :class:`RecordedSpan` objects for one instrumentation scope."""

    def __init__(self, provider: RecordingProvider, scope: Scope) -> None:
        self._provider = provider
        self._scope = scope
        self._resource = provider._resource
        self._limits = provider._limits
        self._sampler = provider._sampler
        self._ids = provider._ids

    def start_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace_api.Span:
        parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
        if context is None and not parent.is_valid:  # type: ignore[union-attr]
            parent = _lite.parent_of(parent)  # a span _lite made current where the promotion did not reach
        if parent is not None and not isinstance(parent, SpanContext):
            msg = "parent_span_context must be a SpanContext or None."
            raise TypeError(msg)
        ids = self._ids
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = ids.generate_trace_id()
            random_trace_id = ids.is_trace_id_random()
            trace_state = None
        else:
            trace_id = parent.trace_id
            random_trace_id = parent.trace_flags & _RANDOM
            trace_state = parent.trace_state
        sampled = self._sampler(parent, trace_id)
        if random_trace_id:
            flags = _SAMPLED_RANDOM if sampled else _NOT_SAMPLED_RANDOM
        else:
            flags = _SAMPLED if sampled else _NOT_SAMPLED
        span_context = SpanContext(
            trace_id, ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=trace_state
        )
        if not sampled:
            return NonRecordingSpan(span_context)
        span = RecordedSpan(
            self,
            name,
            span_context,
            parent,
            kind,
            attributes,
            links or (),
            start_time,
            record_exception,
            set_status_on_exception,
        )
        processors = self._provider._processors
        if processors:
            self._provider._on_start(span, context)
        return span

    @_agnosticcontextmanager
    def start_as_current_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace_api.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace_api.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current

    def _finish(self, span: RecordedSpan) -> None:
        provider = self._provider
        try:
            provider._sink(span)
        except Exception:  # noqa: BLE001 - a failing sink must never reach the traced code
            provider._sink_failed()
        if provider._processors:
            provider._on_end(span)


class RecordingProvider(trace_api.TracerProvider):
    """A ``TracerProvider`` that records finished spans and hands each one to ``sink``.

    Args:
        sink: called with each finished :class:`RecordedSpan`, in the thread that ended it.
            An exception it raises is swallowed (logged once at debug level).
        resource: the resource of every span (:func:`build_resource`).
        sampler: the sampler (default: :func:`sampler_from_env`).
        limits: the span limits (default: :class:`Limits` from the environment).
        id_generator: an object with ``generate_trace_id()``, ``generate_span_id()`` and
            ``is_trace_id_random()`` (default: :class:`RandomIds`).
        environ: where to read ``OTEL_*`` (default ``os.environ``).
    """

    def __init__(
        self,
        sink: Callable[[RecordedSpan], object],
        *,
        resource: Resource,
        sampler: Sampler | None = None,
        limits: Limits | None = None,
        id_generator: Any = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._sink = sink
        self._resource = resource
        self._sampler = sampler if sampler is not None else sampler_from_env(env)
        self._limits = limits if limits is not None else Limits(env)
        self._ids = id_generator if id_generator is not None else RandomIds()
        self._disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        self._tracers: dict[Scope, RecordingTracer] = {}
        self._lock = threading.Lock()
        self._processors: tuple[Any, ...] = ()
        self._sink_failures = 0
        if hasattr(os, "register_at_fork"):
            # As the SDK's provider: a child gets fresh locks and its own service.instance.id.
            # A weak reference, so registering does not keep a provider alive forever.
            import weakref

            renew = weakref.WeakMethod(self._after_fork)

            def after_in_child() -> None:
                method = renew()
                if method is not None:
                    method()

            os.register_at_fork(after_in_child=after_in_child)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        resource = self._resource._after_fork()
        self._resource = resource
        for tracer in self._tracers.values():
            tracer._resource = resource

    @property
    def resource(self) -> Resource:
        return self._resource

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace_api.Tracer:
        if self._disabled:
            return trace_api.NoOpTracer()
        if not instrumenting_module_name:
            _log.debug("get_tracer called without a name")
            instrumenting_module_name = ""
        scope = Scope(instrumenting_module_name, instrumenting_library_version or "", schema_url, attributes)
        with self._lock:
            tracer = self._tracers.get(scope)
            if tracer is None:
                tracer = self._tracers[scope] = RecordingTracer(self, scope)
        return tracer

    def add_span_processor(self, processor: Any) -> None:
        """Also hand spans to an SDK-style span processor (``on_start``/``on_end``), best effort.

        The spans are :class:`RecordedSpan` objects, not SDK spans: processors that read the
        ``ReadableSpan`` surface (export processors) work; others may not. A configuration that
        adds processors is better served by the SDK (the caller decides).
        """
        with self._lock:
            self._processors = (*self._processors, processor)

    def _on_start(self, span: RecordedSpan, context: Context | None) -> None:
        for processor in self._processors:
            try:
                processor.on_start(span, parent_context=context)
            except Exception:  # noqa: BLE001 - a processor must never reach the traced code
                _log.debug("span processor %r failed on start", processor, exc_info=True)

    def _on_end(self, span: RecordedSpan) -> None:
        for processor in self._processors:
            try:
                processor.on_end(span)
            except Exception:  # noqa: BLE001 - a processor must never reach the traced code
                _log.debug("span processor %r failed on end", processor, exc_info=True)

    def _sink_failed(self) -> None:
        self._sink_failures += 1
        if self._sink_failures == 1:
            _log.debug("the span sink failed; this span is lost", exc_info=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the added span processors (the sink holds nothing back)."""
        return all(processor.force_flush(timeout_millis) for processor in self._processors)

    def shutdown(self) -> None:
        """Shut down the added span processors."""
        for processor in self._processors:
            processor.shutdown()
