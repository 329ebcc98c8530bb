"""Hand-off's recording without the SDK: lazyotel's recorder feeds the hand-off processor.

In hand-off delivery the command only records: spans leave as files in the spool and the
detached shipper exports them. Where the configuration is one the recorder fully supports
(``_recorder_setup.unsupported_reason``), ``activate`` installs lazyotel's recorder, whose
spans go to the ``_handoff.HandoffProcessor``, and the command imports nothing of the
OpenTelemetry SDK (only the shipper does):

- ``_lite``'s provider where nothing has imported the OpenTelemetry API yet: not even the API
  is imported. ``promote`` (an import hook on ``opentelemetry.trace``) hands the run to
- ``_recorder``'s provider, on the API, as soon as something needs OpenTelemetry; it records
  from the start where the API was imported before the first span.

Otherwise it says why at debug level and returns False: the hub then builds the SDK pipeline
(``_sdk``) as before. ``light_instrumentor`` and ``LiteKit`` give httpx lazyotel's own
instrumentation (``_httpx``) in the runs the recorder records.

A pipeline: imported by the hub only, never importing it, nor ``_sdk`` (what it needs is passed in).
"""

from __future__ import annotations

import _thread
import os
import sys

from . import _config, _handoff, _lite, _log, _recorder_setup, _state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._config import Settings
    from ._handoff import HandoffProcessor
    from ._recorder import RecordingProvider
    from ._state import Runtime


def activate(runtime: Runtime, settings: Settings) -> bool:
    """Install the recorder for hand-off delivery; False (one debug line) where the SDK must record.

    Installs it the way ``_sdk.activate`` installs the SDK's provider: ``runtime.own`` is the
    provider, ``runtime.switch`` what the hub flushes, shuts down and reconfigures. Where
    nothing has imported the OpenTelemetry API yet, the provider is ``_lite``'s (no import at
    all) and a hook promotes the run to the recorder on the API when something imports it;
    otherwise the recorder on the API records from the start, and ``_follow``'s provider
    becomes the global one.
    """
    reason = _why_not(runtime, settings)
    if reason is None:
        processor = _handoff.build(settings)
        if processor is None:
            reason = "hand-off delivery cannot work here"
        else:
            switch = RecorderSwitch(processor)
            if _API not in sys.modules:
                runtime.own, runtime.switch = build_lite(settings, switch), switch
                _watch_for_the_api()
                _log.debug("lazyotel's recorder records this run, OpenTelemetry not even imported")
                return True
            _on_the_api(runtime, build_provider(settings, switch), switch)
            _log.debug("lazyotel's recorder records this run (the SDK is left to the shipper)")
            return True
    if reason == _FOREIGN:
        _log.debug("lazyotel's recorder is not used: %s", reason)
    else:
        _log.debug("the OpenTelemetry SDK records this run: %s", reason)
    return False


_API = "opentelemetry.trace"


def _on_the_api(runtime: Runtime, provider: RecordingProvider, switch: RecorderSwitch) -> None:
    from . import _follow

    _log.funnel_opentelemetry()  # what the API logs is the one warning
    runtime.switch, runtime.own = switch, provider
    _follow.install_global()


def _why_not(runtime: Runtime, settings: Settings) -> str | None:
    """Why the recorder cannot record this run, or None. Cheap checks first: no import."""
    if runtime.override is not None:
        return "lazyotel.testing captures the spans"
    inline = _handoff._inline_reason(settings)
    if inline is not None:
        return f"delivery is inline {inline}".rstrip()
    unsupported = _recorder_setup.unsupported_reason(os.environ)
    if unsupported is not None:
        return unsupported
    if _API not in sys.modules:
        return None  # no provider can be installed without the API: lite records
    with _log.quiet_otel_import():  # the API's import-time complaints: one lazyotel warning
        from . import _follow, _recorder  # noqa: F401 - _recorder: imported here, in the block

    if _follow.foreign_provider() is not None:
        return _FOREIGN
    return None


_FOREIGN = "a tracer provider someone else installed records this run"


# -- recording without OpenTelemetry, and the promotion to it ------------------------------------


def build_lite(settings: Settings, switch: RecorderSwitch) -> _lite.Provider:
    """``_lite``'s provider with ``settings``' resource, whose spans go to ``switch``."""
    return _lite.Provider(switch.on_start, switch.on_end, resource=build_resource(settings))


class _Promotion:
    """The hook on ``import opentelemetry.trace`` while ``_lite`` records (one per process)."""

    finder: Any = None
    # Serialises the promotion with ``apply_live``'s swap of ``_lite``'s provider. Reentrant:
    # the promotion's own imports fire the hook again in its thread (``running`` stops that).
    lock = _thread.RLock()
    running = False


def _watch_for_the_api() -> None:
    if _Promotion.finder is None:
        from . import _hook

        _Promotion.finder = _hook.Finder(_API.__eq__, promote)
        _Promotion.finder.install()
    if _API in sys.modules:  # imported by another thread meanwhile
        promote()


def promote(_module: str = _API) -> bool:
    """Hand the run from ``_lite`` to lazyotel's recorder on the OpenTelemetry API. Never raises.

    Called by the import hook once ``opentelemetry.trace`` is loaded (user code, an
    instrumentor, a span asked for its API context). The recorder takes the same sink,
    resource, sampler, limits and ids; ``_follow``'s provider becomes the global one; the
    spans ``_lite`` made current in this context become OpenTelemetry's current spans
    (``_lite.to_api``). Spans ``_lite`` started keep recording and end into the same sink.
    False where there was nothing to promote (after ``shutdown()`` too), or promotion failed
    (``_lite`` records on).

    It runs inside an import (holding that module's import lock), so it never waits for
    ``RUNTIME.lock``: a thread holding that lock may be importing OpenTelemetry itself.
    """
    runtime = _state.RUNTIME
    if type(runtime.own) is not _lite.Provider:
        return False
    with _Promotion.lock:
        own, switch = runtime.own, runtime.switch
        if _Promotion.running or type(own) is not _lite.Provider or switch is None or _state.STATE.closed:
            return False
        _Promotion.running = True
        try:
            with _log.quiet_otel_import():
                from . import _recorder
            provider = _recorder.RecordingProvider(
                switch.on_end,
                resource=own.resource,
                sampler=own._sampler,
                limits=own._limits,
                id_generator=own._ids,
            )
            provider.add_span_processor(_Starts(switch))
            _on_the_api(runtime, provider, switch)
            _lite.to_api()
            _log.debug("OpenTelemetry was imported: lazyotel's recorder goes on, on its API")
            return True
        except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
            _log.fault(exc)
            return False
        finally:
            _Promotion.running = False


# -- lazyotel's own httpx instrumentation, for the runs the recorder records ---------------------


def light_instrumentor(name: str) -> Any:
    """lazyotel's own instrumentor for ``name`` where it makes the contrib's spans (httpx, in the
    environments ``_httpx.supported_reason`` accepts), else None (the contrib's serves)."""
    httpx = sys.modules.get("httpx")
    if name != "httpx" or httpx is None:
        return None
    from . import _httpx

    reason = _httpx.supported_reason(os.environ, getattr(httpx, "__version__", None))
    if reason is not None:
        _log.debug("httpx requests are traced by opentelemetry-instrumentation-httpx: %s", reason)
        return None
    return _LightHttpx(httpx)


class _LightHttpx:
    """``_httpx`` as ``_instrument`` applies a contrib instrumentor."""

    def __init__(self, httpx: Any) -> None:
        self._httpx = httpx
        self._tracing: Any = None  # what instrument() installed

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """Its own state once it instrumented (as the contrib instrumentors keep theirs);
        before, whether httpx's seat holds a wrapper of ours or the contrib's."""
        if self._tracing is not None:
            return bool(self._tracing.active)
        from . import _httpx

        seat = self._httpx.HTTPTransport.__dict__.get("handle_request")
        return _httpx.tracing_of(seat) is not None or _httpx._contrib_wrapped(seat)

    def instrument(self) -> None:
        from . import _httpx

        self._tracing = _httpx.instrument(self._httpx, LiteKit())

    def uninstrument(self) -> None:
        from . import _httpx

        _httpx.uninstrument(self._httpx, self._tracing)


class _KitSpan:
    """A ``_lite`` span as ``_httpx`` uses it: ``set_status`` by the code's name."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Any) -> None:
        self.span.set_attributes(attributes)

    def is_recording(self) -> bool:
        return bool(self.span.is_recording())

    def record_exception(self, exception: BaseException) -> None:
        self.span.record_exception(exception)

    def set_status(self, code_name: str, description: str | None = None) -> None:
        if self.span.is_recording():
            self.span.set_status_named(code_name, description)

    def end(self) -> None:
        self.span.end()


_STANDARD_PROPAGATORS = frozenset(("tracecontext", "baggage"))


class LiteKit:
    """``_httpx``'s kit where lazyotel's recorder records: ``_lite``'s spans and W3C headers while
    ``_lite`` records and nothing else uses OpenTelemetry's context; the API's kit otherwise
    (which imports the API: the run is promoted)."""

    def __init__(self) -> None:
        from . import _httpx

        self._scope = (
            _httpx.SCOPE_NAME,
            _httpx.SCOPE_VERSION,
            _httpx.schema_url(_httpx.semconv_mode(os.environ)),
        )
        self._pair: tuple[Any, Any] = (None, None)
        self._api_kit: Any = None
        names = os.environ.get("OTEL_PROPAGATORS")
        chosen = (
            {part.strip().lower() for part in names.split(",")} if names is not None else {"tracecontext"}
        )
        # Others (b3, jaeger, none...) are the API's: its propagators are loaded by entry point.
        self._w3c = "tracecontext" in chosen and chosen <= _STANDARD_PROPAGATORS

    def _tracer(self) -> Any:
        """``_lite``'s tracer for the instrumentor's scope, or None where the API's kit serves."""
        own = _state.RUNTIME.own
        if type(own) is not _lite.Provider or not self._w3c or "opentelemetry.context" in sys.modules:
            return None
        pair = self._pair
        if pair[0] is not own:
            pair = self._pair = (own, own.get_tracer(*self._scope))
        return pair[1]

    def _api(self) -> Any:
        if self._api_kit is None:
            from . import _httpx

            self._api_kit = _httpx.ApiKit()
        return self._api_kit

    def start_client_span(self, name: str, attributes: dict[str, Any]) -> tuple[Any, object]:
        tracer = self._tracer()
        if tracer is None:
            return self._api().start_client_span(name, attributes)  # type: ignore[no-any-return]
        span = tracer.start_span(name, kind=_lite.SpanKind.CLIENT, attributes=attributes)
        return _KitSpan(span), _lite.attach(span)

    def end_span(self, span: Any, token: object) -> None:
        if type(token) is not _lite.Frame:
            self._api().end_span(span, token)
            return
        try:
            _lite.detach(token)
        finally:
            span.end()  # a _KitSpan

    def inject(self, headers: Any) -> None:
        if self._tracer() is None:
            from opentelemetry import trace

            current = trace.get_current_span().get_span_context()
            if not self._w3c or current.is_valid or _lite.current_span() is None:
                self._api().inject(headers)
                return
            # A context the promotion (in another thread, since this span started) did not
            # reach: the CLIENT span is _lite's current span here, not OpenTelemetry's.
        span = _lite.current_span()
        context = None if span is None else span.context
        if context is None or not context.is_valid:
            return
        from . import _w3c

        headers["traceparent"] = _w3c.format_traceparent(
            context.trace_id, context.span_id, int(context.trace_flags)
        )
        if context.trace_state:
            headers["tracestate"] = _w3c.format_tracestate(context.trace_state.items())

    def suppressed(self) -> bool:
        return False if self._tracer() is not None else bool(self._api().suppressed())


def owns(runtime: Runtime) -> bool:
    """Whether the running pipeline is the recorder's (``_lite``'s or on the API)."""
    return isinstance(runtime.switch, RecorderSwitch)


def apply_live(runtime: Runtime, settings: Settings, changed: list[str], flush_timeout: float) -> bool:
    """Reconfigure the recorder's pipeline; False where hand-off no longer applies (the hub
    then hands the run to the SDK).

    A new destination (endpoint, protocol, headers) gets a new hand-off processor: the spans
    held so far are written for the old one, later ones go to the new one. A new resource
    gets a new provider around the same switch (following tracers pick it up on their next span).
    """
    from . import _config

    switch = runtime.switch
    if runtime.own is None or not isinstance(switch, RecorderSwitch):
        return True  # after shutdown(): nothing runs
    if any(name in changed for name in _config.EXPORT_PARAMS):
        if _handoff._inline_reason(settings) is not None:
            return False
        processor = _handoff.build(settings)
        if processor is None:
            return False
        old = switch.replace(processor)
        if old is not None:
            from ._bounded import run_bounded

            run_bounded(old.shutdown, flush_timeout, "swap")
    if any(name in changed for name in _config.RESOURCE_PARAMS):
        with _Promotion.lock:  # not between a promotion's check and its swap
            if type(runtime.own) is _lite.Provider:
                runtime.own = build_lite(settings, switch)
            else:
                runtime.own = build_provider(settings, switch)
    return True


def build_provider(settings: Settings, switch: RecorderSwitch) -> RecordingProvider:
    """A recording provider with ``settings``' resource, whose finished spans go to ``switch``."""
    from . import _recorder

    provider = _recorder.RecordingProvider(switch.on_end, resource=build_resource(settings))
    provider.add_span_processor(_Starts(switch))
    return provider


def build_resource(settings: Settings) -> _lite.Resource:
    """What ``_sdk.build_resource`` builds (arguments win; ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` fill the rest), named as lazyotel's recorder."""
    from ._version import __version__

    return _lite.build_resource(_config.resource_attributes(settings), version=__version__)


class RecorderSwitch:
    """``RUNTIME.switch`` while the recorder records: the hand-off processor, swappable.

    The hub calls ``force_flush``, ``shutdown`` and ``report`` on it, as on ``_sdk.SwitchProcessor``.
    """

    def __init__(self, inner: HandoffProcessor | None) -> None:
        self._inner = inner

    def replace(self, inner: HandoffProcessor | None) -> HandoffProcessor | None:
        old, self._inner = self._inner, inner
        return old

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        inner = self._inner
        if inner is not None:
            inner.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        inner = self._inner
        if inner is not None:
            inner.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        inner = self._inner
        return True if inner is None else inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.shutdown()

    def report(self, flush_timeout: float) -> None:
        """Nothing to say: hand-off reports what it could not write when it writes."""


class _Starts:
    """The provider's span processor: started spans reach the switch (hand-off counts a forked
    worker's open spans); finished ones reach it through the provider's sink."""

    def __init__(self, switch: RecorderSwitch) -> None:
        self._switch = switch

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self._switch.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        # What the SDK's provider does for ``trace.get_tracer_provider().force_flush()``.
        return self._switch.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._switch.shutdown()
