"""Recording without OpenTelemetry: lazyotel's own spans, until something needs the API.

In hand-off delivery a command only records; most commands make a handful of spans with
lazyotel's own tracers (the command span, ``lazyotel.get_tracer``, light httpx spans, the
CLIENT spans of child processes) and use nothing of OpenTelemetry's. Importing the
OpenTelemetry API for that costs a typer command about 6 % of its run (it imports ``logging``
and ``typing`` machinery). This module records those spans with the SDK's rules and no import
at all: its :class:`Span` objects carry the SDK ``ReadableSpan`` read surface, so the spool
encoder (``_otlpjson``) writes them as it writes the recorder's.

The moment anything needs OpenTelemetry (user code or an instrumentor imports
``opentelemetry.trace``, a span is asked for its API ``SpanContext``), ``_record`` promotes
the run: lazyotel's recorder (``_recorder``, on the API) takes over new spans, and the spans
of this module that are open and current in the promoting thread are made OpenTelemetry's
current spans (:func:`to_api`), so what starts under them is their child; in other threads and
tasks lazyotel's tracers still find them as parents (:func:`parent_of`).

What the fast paths cannot do exactly (an attribute value the API would clean, a limit
reached) takes the API's own ``BoundedAttributes`` for that one span: ``opentelemetry.attributes``
imports neither the trace API nor its context.

Pipelines floor: imports only ``_recorder_setup``, ``_state`` and ``_log`` (which import nothing) and
the standard library's ``_thread`` and ``_contextvars``.
"""

from __future__ import annotations

import _thread
import os
import sys
from _contextvars import ContextVar  # not ``contextvars``: the same class, one import less
from time import time_ns

from . import _log
from ._recorder_setup import Limits, RandomIds, sampler_from_env
from ._state import RUNTIME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextvars import Token
    from typing import Any

    from ._recorder_setup import Sampler

SDK_NAME = "lazyotel"
"""``telemetry.sdk.name`` of the spans lazyotel records: not the OpenTelemetry SDK's."""


# -- the API's enums and value types, as the encoders read them -----------------------------------


class Code:
    """A member of ``SpanKind`` or ``StatusCode``: what the encoders and samplers read of one."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"<{self.name}: {self.value}>"


class SpanKind:
    """``opentelemetry.trace.SpanKind``'s members, same values."""

    INTERNAL = Code("INTERNAL", 0)
    SERVER = Code("SERVER", 1)
    CLIENT = Code("CLIENT", 2)
    PRODUCER = Code("PRODUCER", 3)
    CONSUMER = Code("CONSUMER", 4)


class StatusCode:
    """``opentelemetry.trace.StatusCode``'s members, same values."""

    UNSET = Code("UNSET", 0)
    OK = Code("OK", 1)
    ERROR = Code("ERROR", 2)


class Status:
    """``opentelemetry.trace.Status``: a code and, with ERROR only, a description."""

    __slots__ = ("description", "status_code")

    def __init__(self, status_code: Any = StatusCode.UNSET, description: str | None = None) -> None:
        self.status_code = status_code
        self.description = description if _code_value(status_code) == 2 else None

    @property
    def is_ok(self) -> bool:
        return _code_value(self.status_code) != 2

    @property
    def is_unset(self) -> bool:
        return _code_value(self.status_code) == 0

    def __repr__(self) -> str:
        return f"Status({self.status_code!r}, {self.description!r})"


def _code_value(code: Any) -> int:
    return int(getattr(code, "value", -1))


#: ``set_status_named("ERROR")``: a code by name (what ``_httpx``'s kit spans are given).
_CODES_BY_NAME = {"UNSET": StatusCode.UNSET, "OK": StatusCode.OK, "ERROR": StatusCode.ERROR}


UNSET_STATUS = Status()


class Flags(int):
    """W3C trace flags (``opentelemetry.trace.TraceFlags``): an int with ``sampled``."""

    __slots__ = ()

    @property
    def sampled(self) -> bool:
        return bool(self & 1)


class TraceState:
    """A W3C ``tracestate``: ordered ``(key, value)`` pairs, as ``TraceState`` keeps them."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Sequence[tuple[str, str]] = ()) -> None:
        self._entries = tuple(entries)

    def items(self) -> Sequence[tuple[str, str]]:
        return self._entries

    def to_header(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TraceState({list(self._entries)!r})"


EMPTY_STATE = TraceState()


class SpanContext:
    """``opentelemetry.trace.SpanContext``'s fields; ``api()`` makes the API's own on request."""

    __slots__ = ("_api", "is_remote", "span_id", "trace_flags", "trace_id", "trace_state")

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        is_remote: bool,
        trace_flags: Flags,
        trace_state: TraceState = EMPTY_STATE,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.is_remote = is_remote
        self.trace_flags = trace_flags
        self.trace_state = trace_state
        self._api: Any = None

    @property
    def is_valid(self) -> bool:
        return 0 < self.trace_id < 1 << 128 and 0 < self.span_id < 1 << 64

    def api(self) -> Any:
        """The same context as an ``opentelemetry.trace.SpanContext`` (imports the API)."""
        made = self._api
        if made is None:
            from opentelemetry import trace

            state = trace.TraceState(list(self.trace_state.items())) if self.trace_state else None
            made = self._api = trace.SpanContext(
                self.trace_id,
                self.span_id,
                is_remote=self.is_remote,
                trace_flags=trace.TraceFlags(int(self.trace_flags)),
                trace_state=state,
            )
        return made

    def __repr__(self) -> str:
        return f"SpanContext(trace_id=0x{self.trace_id:032x}, span_id=0x{self.span_id:016x})"


class ApiTraits:
    """What the installed opentelemetry-api does that differs by version, read once from its
    ``opentelemetry/trace/span.py`` on disk (nothing is imported to decide).

    ``random_flag``: W3C Trace Context level 2's random-trace-id flag (2) where the API has it
    (1.4x; the SDK of that version sets it on the trace ids it makes), else 0. ``w3c_rules``:
    the API parses ``tracestate`` by the rules ``_w3c`` implements (1.45: members stripped of
    spaces and tabs, 8192 characters at most); older APIs split it otherwise, and lazyotel
    then leaves ``TRACEPARENT`` to the API's own propagator.
    """

    _read: tuple[int, bool] | None = None

    @classmethod
    def get(cls) -> tuple[int, bool]:
        read = cls._read
        if read is None:
            read = cls._read = cls._from_disk()
        return read

    @staticmethod
    def _from_disk() -> tuple[int, bool]:
        relative = os.path.join("opentelemetry", "trace", "span.py")
        for entry in sys.path:
            try:
                with open(os.path.join(entry or ".", relative), "rb") as source:
                    text = source.read()
            except OSError:
                continue
            rules = b'member.strip(" \\t")' in text and b"MAXIMUM_TRACESTATE_LENGTH" in text
            return (2 if b"RANDOM_TRACE_ID" in text else 0), rules
        return 0, False


# -- resource and scopes ------------------------------------------------------------------------

#: Values every API version keeps as they are. (``None`` and ``bytes`` are not among them:
#: opentelemetry-api 1.45 keeps both, older versions drop ``None`` and decode ``bytes``.)
_PLAIN = frozenset((str, int, float, bool))


def bounded(
    maxlen: int | None,
    attributes: Mapping[str, Any] | None,
    max_value_len: int | None,
    immutable: bool = True,
) -> Any:
    """The attributes as ``BoundedAttributes(maxlen, attributes, immutable, max_value_len)`` keeps them.

    When every key is a non-empty ``str``, every value a plain scalar the API keeps unchanged
    (strings within ``max_value_len``) and nothing overflows ``maxlen``, the API's cleaning is
    the identity: a plain ``dict`` (mutable) serves. Anything else takes the API's own class
    (``opentelemetry.attributes``, which imports neither the trace API nor its context).
    """
    if not attributes:
        return {} if not immutable else _EMPTY
    if maxlen is None or len(attributes) <= maxlen:
        kept = {}
        for key, value in attributes.items():
            clean = _plain(value, max_value_len)
            if type(key) is not str or not key or clean is _NOT_PLAIN:
                break
            kept[key] = clean
        else:
            return kept
    return _api_bounded()(maxlen, attributes, immutable=immutable, max_value_len=max_value_len)


_EMPTY: dict[str, Any] = {}


def set_items(target: Any, attributes: Mapping[str, Any]) -> None:
    """Set ``attributes`` on the API's ``BoundedAttributes`` as the installed SDK's
    ``set_attributes`` does: ``_set_items`` (a mapping's cleaning rules) where the API has it,
    one item at a time before (opentelemetry-api < 1.4x)."""
    method = getattr(target, "_set_items", None)
    if method is not None:
        method(attributes)
        return
    for key, value in attributes.items():
        target[key] = value


def _api_bounded() -> Any:
    """The API's ``BoundedAttributes``; what it logs speaks through lazyotel's funnel."""
    _log.funnel_opentelemetry()
    from opentelemetry.attributes import BoundedAttributes  # type: ignore[attr-defined,unused-ignore]  # mypy: not in api 1.21

    return BoundedAttributes


_NOT_PLAIN = object()


def _plain(value: Any, max_value_len: int | None) -> Any:
    """``value`` as every API version keeps it, where that needs no cleaning rule: a scalar
    (strings within ``max_value_len``) as is, a list or tuple of such strings as a tuple.
    Else ``_NOT_PLAIN``."""
    kind = type(value)
    if kind in _PLAIN:
        if kind is str and max_value_len is not None and len(value) > max_value_len:
            return _NOT_PLAIN
        return value
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str or (max_value_len is not None and len(item) > max_value_len):
                return _NOT_PLAIN
        return tuple(value)
    return _NOT_PLAIN


def _dropped(attributes: Any) -> int:
    return int(getattr(attributes, "dropped", 0))


class Resource:
    """The entity producing telemetry: attributes and a schema URL (the SDK's read surface)."""

    __slots__ = ("_attributes", "_generated_instance", "_schema_url")

    def __init__(self, attributes: Mapping[str, Any] | None, schema_url: str | None = None) -> None:
        self._attributes = bounded(None, attributes, None)
        self._schema_url = schema_url or ""
        self._generated_instance = False  # service.instance.id is ours to renew in a forked child

    def _after_fork(self) -> Resource:
        """This resource, or a copy with a new ``service.instance.id`` if it made its own."""
        if not self._generated_instance:
            return self
        import uuid

        attributes = dict(self._attributes)
        attributes["service.instance.id"] = str(uuid.uuid4())
        renewed = Resource(attributes, self._schema_url)
        renewed._generated_instance = True
        return renewed

    @property
    def attributes(self) -> Mapping[str, Any]:
        from types import MappingProxyType

        return MappingProxyType(self._attributes)

    @property
    def schema_url(self) -> str:
        return self._schema_url

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resource):
            return NotImplemented
        return dict(self._attributes) == dict(other._attributes) and self._schema_url == other._schema_url

    def __hash__(self) -> int:
        return hash((tuple(sorted(self._attributes)), self._schema_url))

    def __repr__(self) -> str:
        return f"Resource({dict(self._attributes)!r}, schema_url={self._schema_url!r})"


def _instance_id() -> str:
    """A random UUID4 string, as ``str(uuid.uuid4())`` (importing ``uuid`` costs more)."""
    value = bytearray(os.urandom(16))
    value[6] = (value[6] & 0x0F) | 0x40  # version 4
    value[8] = (value[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = value.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def build_resource(
    attributes: Mapping[str, Any] | None,
    *,
    version: str,
    schema_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resource:
    """The resource ``opentelemetry.sdk.resources.Resource.create(attributes)`` makes, named as lazyotel's.

    In merge order: ``telemetry.sdk.*`` (name ``lazyotel``, ``version``, language ``python``),
    a random ``service.instance.id``, ``OTEL_RESOURCE_ATTRIBUTES`` then ``OTEL_SERVICE_NAME``,
    then ``attributes``; ``service.name`` defaults to ``unknown_service:<executable>``.
    """
    env = os.environ if environ is None else environ
    instance = _instance_id()
    merged: dict[str, Any] = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": SDK_NAME,
        "telemetry.sdk.version": version,
        "service.instance.id": instance,
    }
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, equals, value = item.partition("=")
        if not equals:
            continue  # the SDK logs and skips it
        value = value.strip()
        if "%" in value:  # the only case unquote changes (and urllib.parse costs an import)
            from urllib.parse import unquote

            value = unquote(value)
        merged[key.strip()] = value
    service_name = env.get("OTEL_SERVICE_NAME")
    if service_name:
        merged["service.name"] = service_name
    merged.update(bounded(None, attributes, None))
    if not merged.get("service.name"):
        executable = os.path.basename(sys.executable) if sys.executable else ""
        merged["service.name"] = f"unknown_service:{executable}" if executable else "unknown_service"
    resource = Resource(merged, schema_url)
    resource._generated_instance = merged["service.instance.id"] == instance
    return resource


class Scope:
    """An instrumentation scope: name, version, schema URL and attributes (the SDK's read surface)."""

    __slots__ = ("_attributes", "_name", "_schema_url", "_version")

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        self._name = name
        self._version = version
        self._schema_url = schema_url or ""
        self._attributes = bounded(None, attributes, None)

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str | None:
        return self._version

    @property
    def schema_url(self) -> str:
        return self._schema_url

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes  # type: ignore[no-any-return]

    def __hash__(self) -> int:
        return hash((self._name, self._version, self._schema_url))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        mine = (self._name, self._version, self._schema_url, dict(self._attributes))
        return mine == (other._name, other._version, other._schema_url, dict(other._attributes))

    def __repr__(self) -> str:
        return f"Scope({self._name!r}, {self._version!r}, {self._schema_url!r}, {dict(self._attributes)!r})"


# -- spans --------------------------------------------------------------------------------------


class Event:
    """A span event: name, timestamp, attributes and how many of them were dropped."""

    __slots__ = ("_attributes", "_name", "_timestamp")

    def __init__(self, name: str, attributes: Any, timestamp: int | None = None) -> None:
        self._name = name
        self._attributes = attributes
        self._timestamp = time_ns() if timestamp is None else timestamp

    @property
    def name(self) -> str:
        return self._name

    @property
    def timestamp(self) -> int:
        return self._timestamp

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes  # type: ignore[no-any-return]

    @property
    def dropped_attributes(self) -> int:
        return _dropped(self._attributes)

    def __repr__(self) -> str:
        return f"Event({self._name!r}, {dict(self._attributes)!r}, {self._timestamp})"


def exception_attributes(exception: BaseException, escaped: bool) -> dict[str, Any]:
    """The ``exception`` event's attributes, as the SDK's ``record_exception`` makes them."""
    import traceback

    stacktrace = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    module = type(exception).__module__
    qualname = type(exception).__qualname__
    return {
        "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
        "exception.message": str(exception),
        "exception.stacktrace": stacktrace,
        "exception.escaped": str(escaped),
    }


class NonRecordingSpan:
    """A span that only carries a context: a remote parent, or a span the sampler dropped.

    Its other methods do nothing, as ``_noop.NoOpSpan``'s do; not a subclass of it, so that a
    command using only ``trace_command`` does not import ``_noop`` (each module lazyotel imports
    on the recording path costs about 0.5 million instructions, ``benchmarks/README.md``).
    """

    __slots__ = ("context",)

    #: For ``_outcome``: (an OK status, ``Status``, ``StatusCode``) that suit this span.
    STATUSES = (Status(StatusCode.OK), Status, StatusCode)

    def __init__(self, context: SpanContext) -> None:
        self.context = context

    def get_span_context(self) -> Any:
        return self.context.api()

    def is_recording(self) -> bool:
        return False

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        """What every recording method of this span does."""

    set_attribute = set_attributes = add_event = add_link = update_name = _nothing
    set_status = set_status_named = record_exception = end = _nothing

    def __enter__(self) -> NonRecordingSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def __repr__(self) -> str:
        return f"NonRecordingSpan({self.context!r})"


class SpanCore:
    """What a recording span does, for this module's spans and the recorder's
    (``_recorder.RecordedSpan``): the OpenTelemetry API ``Span`` methods with the SDK's rules, and
    once ended the SDK ``ReadableSpan`` read surface.

    A subclass provides ``_attributes`` (a plain dict while every value is plain, else the API's
    ``BoundedAttributes``), ``_end_time``, ``_events``, ``_links``, ``_lock``, ``_name``,
    ``_record_exception``, ``_set_status_on_exception``, ``_start_time``, ``_status``,
    ``dropped_events``, ``dropped_links`` and ``_tracer`` (with ``_limits``, ``_scope`` and
    ``_finish(span)``); ``_STATUS``, the ``Status`` class and ERROR code it records with.
    """

    __slots__ = (
        "_attributes",
        "_end_time",
        "_events",
        "_links",
        "_lock",
        "_name",
        "_record_exception",
        "_set_status_on_exception",
        "_start_time",
        "_status",
        "_tracer",
        "dropped_events",
        "dropped_links",
    )

    _STATUS: tuple[Any, Any] = (Status, StatusCode.ERROR)
    _attributes: Any
    _end_time: int | None
    _events: list[Event]
    _links: list[Any]
    _lock: Any
    _name: str
    _record_exception: bool
    _set_status_on_exception: bool
    _start_time: int | None
    _status: Any
    _tracer: Any
    dropped_events: int
    dropped_links: int

    def _start(  # noqa: PLR0917 - positional: it is the hot path
        self,
        tracer: Any,
        name: str,
        attributes: Any,
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
        status: Any,
    ) -> None:
        """What every recording span starts with; ``attributes`` already bounded."""
        self._tracer = tracer
        self._name = name
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception
        self._lock = _thread.allocate_lock()
        self._status = status
        self._end_time = None
        self._attributes = attributes
        self._events = []
        self.dropped_events = 0
        self._links = []
        self.dropped_links = 0
        self._start_time = start_time if start_time is not None else time_ns()

    # -- the read surface (SDK ReadableSpan) --

    @property
    def name(self) -> str:
        return self._name

    @property
    def start_time(self) -> int | None:
        return self._start_time

    @property
    def end_time(self) -> int | None:
        return self._end_time

    @property
    def status(self) -> Any:
        return self._status

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self._attributes  # type: ignore[no-any-return]

    @property
    def events(self) -> Sequence[Event]:
        return tuple(self._events)

    @property
    def links(self) -> Sequence[Any]:
        return tuple(self._links)

    @property
    def instrumentation_scope(self) -> Scope:
        scope: Scope = self._tracer._scope
        return scope

    @property
    def instrumentation_info(self) -> None:
        return None

    @property
    def dropped_attributes(self) -> int:
        return _dropped(self._attributes)

    # -- the API (opentelemetry.trace.Span) --

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: Any) -> None:
        with self._lock:
            if self._end_time is not None:
                return
            attributes = self._attributes
            if type(attributes) is dict:
                limits = self._tracer._limits
                maximum = limits.max_span_attributes
                length = limits.max_span_attribute_length
                clean = _plain(value, length)
                if (
                    type(key) is str
                    and key
                    and clean is not _NOT_PLAIN
                    and (maximum is None or key in attributes or len(attributes) < maximum)
                ):
                    attributes.pop(key, None)  # a key set again moves to the end, as the API's does
                    attributes[key] = clean
                    return
                attributes = self._attributes = _widen(attributes, maximum, length)
            attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        # Not set_attribute per item: the API cleans a mapping by other rules (a key that is
        # not a string is kept as its text there, dropped by set_attribute).
        with self._lock:
            if self._end_time is not None:
                return
            current = self._attributes
            limits = self._tracer._limits
            maximum = limits.max_span_attributes
            length = limits.max_span_attribute_length
            if type(current) is dict:
                updates = bounded(None, attributes, length, immutable=False)
                if type(updates) is dict and (
                    maximum is None or len(current.keys() | updates.keys()) <= maximum
                ):
                    for key, value in updates.items():
                        current.pop(key, None)  # a key set again moves to the end, as the API's does
                        current[key] = value
                    return
                current = self._attributes = _widen(current, maximum, length)
            set_items(current, attributes)

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        limits = self._tracer._limits
        event = Event(
            name, bounded(limits.max_event_attributes, attributes, limits.max_attribute_length), timestamp
        )
        with self._lock:
            if self._end_time is not None:
                return
            maximum = limits.max_events
            if maximum is not None and len(self._events) >= maximum:
                self.dropped_events += 1
                if maximum == 0:
                    return
                del self._events[0]  # the newest are kept, as the SDK's bounded deque does
            self._events.append(event)

    def add_link(self, context: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """Links carry API span contexts: the run is promoted by then; kept as the recorder keeps them."""
        from opentelemetry.trace import Link

        if not (context and (context.is_valid or (attributes or context.trace_state))):
            return  # the SDK's rule: an invalid context is kept only with attributes or a trace state
        limits = self._tracer._limits
        link = Link(context, bounded(limits.max_link_attributes, attributes, limits.max_attribute_length))
        with self._lock:
            if self._end_time is not None:
                return
            maximum = limits.max_links
            if maximum is not None and len(self._links) >= maximum:
                self.dropped_links += 1
                if maximum == 0:
                    return
                del self._links[0]
            self._links.append(link)

    def update_name(self, name: str) -> None:
        with self._lock:
            if self._end_time is None:
                self._name = name

    def set_status(self, status: Any, description: str | None = None) -> None:
        """The SDK's rules: an OK is final, UNSET is never set, a description only with ERROR."""
        with self._lock:
            if self._end_time is not None or _code_value(self._status.status_code) == 1:
                return
            code = getattr(status, "status_code", None)
            if code is not None:  # a Status (the API's or ours)
                if _code_value(code) > 0:
                    self._status = status
            elif _code_value(status) > 0:  # a StatusCode
                # The API's Status keeps a description only if it is a string.
                self._status = self._STATUS[0](status, description if isinstance(description, str) else None)

    def set_status_named(self, name: str, description: str | None = None) -> None:
        """``set_status`` by the code's name ("ERROR", "OK"): what ``_httpx``'s kit spans take."""
        self.set_status(_CODES_BY_NAME.get(name, StatusCode.UNSET), description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        event_attributes = exception_attributes(exception, escaped)
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        with self._lock:
            if self._end_time is not None:
                return
            self._end_time = end_time if end_time is not None else time_ns()
            attributes = self._attributes
            if type(attributes) is not dict:
                attributes._immutable = True  # the API's mapping: read-only from now on
        self._tracer._finish(self)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc_val: BaseException | None, exc_tb: Any) -> None:
        if exc_val is not None and self._end_time is None:
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                make, error = self._STATUS
                self.set_status(make(error, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()


class Span(SpanCore):
    """A recording span while it runs, then the finished record handed to the provider's sink.

    Has the OpenTelemetry API ``Span`` methods (``set_status`` takes the API's ``Status`` and
    ``StatusCode`` or this module's) and, once ended, the SDK ``ReadableSpan`` read surface.
    """

    __slots__ = ("context", "kind", "parent", "resource")

    #: For ``_outcome``: (an OK status, ``Status``, ``StatusCode``) that suit this span.
    STATUSES = (Status(StatusCode.OK), Status, StatusCode)

    def __init__(  # noqa: PLR0917 - positional: it is the hot path
        self,
        tracer: Tracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: Any,
        attributes: Mapping[str, Any] | None,
        start_time: int | None,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> None:
        limits = tracer._limits
        self.resource = tracer._provider._resource  # fixed at start, as the SDK's spans keep theirs
        self.context = context
        self.parent = parent
        self.kind = kind
        bounded_attributes = bounded(
            limits.max_span_attributes, attributes, limits.max_span_attribute_length, immutable=False
        )
        self._start(
            tracer,
            name,
            bounded_attributes,
            start_time,
            record_exception,
            set_status_on_exception,
            UNSET_STATUS,
        )

    def get_span_context(self) -> Any:
        """The API's ``SpanContext`` (imports the API, which promotes the run to it)."""
        return self.context.api()

    def __repr__(self) -> str:
        return f'lazyotel.Span(name="{self._name}", context={self.context!r})'


def _widen(attributes: dict[str, Any], maximum: int | None, length: int | None) -> Any:
    """A span's plain attributes as the API's bounded mapping, for a value or a count the fast
    path cannot keep exactly."""
    widened = _api_bounded()(maximum, None, immutable=False, max_value_len=length)
    widened._dict.update(attributes)  # already clean, and within the limits
    return widened


# -- the current span -----------------------------------------------------------------------------


class Frame:
    """One span made current: the span, the frame it covers, and how to undo it."""

    __slots__ = ("api", "outer", "span", "token")

    def __init__(self, span: Any, outer: Frame | None) -> None:
        self.span = span
        self.outer = outer
        self.token: Token[Frame | None] | None = None
        # (OpenTelemetry's token, the Context attached) where the span is OpenTelemetry's
        # current span too: attached in this frame's own context, after the promotion.
        self.api: tuple[Any, Any] | None = None


CURRENT: ContextVar[Frame | None] = ContextVar("lazyotel.current_span", default=None)
#: The frames ``to_api`` made OpenTelemetry's current spans, in the context it ran in (and
#: the contexts copied from it since): frame -> (token, Context). Per context, because a
#: token may only be detached in the context that attached it.
_PROMOTED: ContextVar[dict[Frame, tuple[Any, Any]] | None] = ContextVar("lazyotel.promoted", default=None)


class _Api:
    """Whether spans made current from now on are OpenTelemetry's current spans too."""

    on = False


def current_span() -> Any:
    """The span lazyotel made current in this context, or None."""
    frame = CURRENT.get()
    return None if frame is None else frame.span


def attach(span: Any) -> Frame:
    """Make ``span`` current in this context; ``detach`` the frame returned to undo it.

    After ``to_api`` it is OpenTelemetry's current span too (a traced generator's span,
    made current again at each step)."""
    frame = Frame(span, CURRENT.get())
    frame.token = CURRENT.set(frame)
    if _Api.on:
        frame.api = _api_attach(span)
    return frame


def _api_attach(span: Any) -> tuple[Any, Any]:
    from opentelemetry import context, trace

    attached = trace.set_span_in_context(span)
    return context.attach(attached), attached


def _api_detach(entry: tuple[Any, Any]) -> None:
    """Detach OpenTelemetry's token, only where it is this context's current one: a token
    from another context would make the API log an error."""
    from opentelemetry import context

    token, attached = entry
    if context.get_current() is attached:
        context.detach(token)


def detach(frame: Frame) -> None:
    """Undo ``attach`` (and OpenTelemetry's attach, where there was one)."""
    entry, frame.api = frame.api, None
    promoted = _PROMOTED.get()
    if entry is None and promoted:
        entry = promoted.pop(frame, None)
    if entry is not None:
        _api_detach(entry)
    token, frame.token = frame.token, None
    if token is None:
        return
    try:
        CURRENT.reset(token)
    except ValueError:  # left in another context (a generator resumed elsewhere): as the API,
        return  # leave that context's current span be


def chain() -> list[Frame]:
    """The frames current in this context, outermost first."""
    frames = []
    frame = CURRENT.get()
    while frame is not None:
        frames.append(frame)
        frame = frame.outer
    frames.reverse()
    return frames


def to_api() -> None:
    """From now on OpenTelemetry holds the current span: the spans current in this context
    become OpenTelemetry's current spans, outermost first (so what OpenTelemetry code starts
    now is their child), and spans made current later are attached in both.

    Called where the run moves to the OpenTelemetry API (the promotion, or the SDK taking
    over). Elsewhere (another thread, an asyncio task) lazyotel's tracers still find a span of
    this module as the parent (``parent_of``)."""
    from opentelemetry import trace

    trace.Span.register(Span)  # isinstance checks (use_span's) see them as spans
    trace.Span.register(NonRecordingSpan)
    promoted = dict(_PROMOTED.get() or {})  # a second call (the SDK taking over) adds, never redoes
    for frame in chain():
        if frame.api is None and frame not in promoted:
            promoted[frame] = _api_attach(frame.span)
    _PROMOTED.set(promoted)
    _Api.on = True


def parent_of(api_parent: Any) -> Any:
    """The parent a span started on the API gets: OpenTelemetry's current span's context if
    valid, else that of the span this module made current in this context (one the promotion
    did not reach: another thread or task), else ``api_parent`` as it is."""
    if api_parent is not None and api_parent.is_valid:
        return api_parent
    frame = CURRENT.get()
    if frame is None:
        return api_parent
    return frame.span.get_span_context()


class UseSpan:
    """``start_as_current_span``'s context manager: the API's ``use_span`` rules."""

    __slots__ = ("_end_on_exit", "_frame", "_record_exception", "_set_status", "_span")

    def __init__(self, span: Any, end_on_exit: bool, record_exception: bool, set_status: bool) -> None:
        self._span = span
        self._end_on_exit = end_on_exit
        self._record_exception = record_exception
        self._set_status = set_status
        self._frame: Frame | None = None

    def __enter__(self) -> Any:
        self._frame = attach(self._span)
        return self._span

    def __exit__(self, exc_type: Any, exc_val: BaseException | None, exc_tb: Any) -> None:
        frame, self._frame = self._frame, None
        span = self._span
        try:
            if frame is not None:
                detach(frame)
            if isinstance(exc_val, Exception) and span.is_recording():
                if self._record_exception:
                    span.record_exception(exc_val)
                if self._set_status:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        finally:
            if self._end_on_exit:
                span.end()


# -- tracer and provider ------------------------------------------------------------------------


class Tracer:
    """Starts :class:`Span` objects for one instrumentation scope, the recorder's rules."""

    __slots__ = ("_limits", "_provider", "_scope")

    def __init__(self, provider: Provider, scope: Scope) -> None:
        self._provider = provider
        self._scope = scope
        self._limits = provider._limits

    def _finish(self, span: Span) -> None:
        self._provider._finish(span)

    def start_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Any = None,
        kind: Any = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Any:
        provider = self._provider
        parent: Any
        if context is not None:  # an OpenTelemetry Context: its span (the API is imported)
            from opentelemetry import trace

            parent = trace.get_current_span(context).get_span_context()
        else:
            frame = CURRENT.get()
            parent = None if frame is None else frame.span.context
        trace_state: Any
        ids = provider._ids
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = ids.generate_trace_id()
            random = provider._random
            trace_state = EMPTY_STATE
        else:
            trace_id = parent.trace_id
            random = parent.trace_flags & provider._random
            trace_state = parent.trace_state
        sampled = provider._sampler(parent, trace_id)
        span_context = SpanContext(
            trace_id, ids.generate_span_id(), False, Flags(random | sampled), trace_state
        )
        if not sampled:
            return NonRecordingSpan(span_context)
        span = Span(
            self,
            name,
            span_context,
            parent,
            kind,
            attributes,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        if links:
            for link in links:
                span.add_link(link.context, link.attributes)
        provider._on_start(span, None)
        return span

    def start_as_current_span(  # noqa: PLR0917 - the API's signature
        self,
        name: str,
        context: Any = None,
        kind: Any = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> UseSpan:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        return UseSpan(span, end_on_exit, record_exception, set_status_on_exception)


class Provider:
    """``RUNTIME.own`` while lazyotel records without OpenTelemetry.

    Args:
        on_start: called with each started span (hand-off counts a worker's open spans).
        sink: called with each finished :class:`Span`, in the thread that ended it; an
            exception it raises is swallowed (the span is lost, the command is not touched).
        resource: the resource of every span (:func:`build_resource`).
        environ: where to read the sampler and the limits (``os.environ``).
    """

    def __init__(
        self,
        on_start: Callable[[Any, Any], object],
        sink: Callable[[Any], object],
        *,
        resource: Resource,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._on_start = on_start
        self._sink = sink
        self._resource = resource
        self._sampler: Sampler = sampler_from_env(env)
        self._limits = Limits(env)
        self._ids = RandomIds()
        self._random = ApiTraits.get()[0]
        self._tracers: dict[Scope, Tracer] = {}
        self.sink_failures = 0

    def after_fork(self) -> None:
        resource = self._resource._after_fork()
        self._resource = resource

    @property
    def resource(self) -> Resource:
        return self._resource

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Tracer:
        scope = Scope(
            instrumenting_module_name or "", instrumenting_library_version or "", schema_url, attributes
        )
        tracer = self._tracers.get(scope)
        if tracer is None:
            tracer = self._tracers.setdefault(scope, Tracer(self, scope))
        return tracer

    def _finish(self, span: Span) -> None:
        try:
            self._sink(span)
        except Exception:  # noqa: BLE001 - a failing sink must never reach the traced code
            self.sink_failures += 1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


SPAN_TYPES = (Span, NonRecordingSpan)


class _ApiStatuses:
    made: Any = None


def statuses(span: Any) -> tuple[Any, Any, Any]:
    """(an OK status, ``Status``, ``StatusCode``) for ``span``: this module's for its spans (no
    import), the API's for the others (imported once)."""
    own = getattr(span, "STATUSES", None)
    if own is not None:
        return own  # type: ignore[no-any-return]
    made = _ApiStatuses.made
    if made is None:
        from opentelemetry.trace import Status as ApiStatus
        from opentelemetry.trace import StatusCode as ApiStatusCode

        made = _ApiStatuses.made = (ApiStatus(ApiStatusCode.OK), ApiStatus, ApiStatusCode)
    return made  # type: ignore[no-any-return]


def recording() -> bool:
    """Whether this module's provider records the run now (not promoted, not shut down)."""
    return type(RUNTIME.own) is Provider


def context_of(span: Any) -> Any:
    """The span context of ``span``: this module's for its spans (no import), else the API's."""
    return span.context if type(span) in SPAN_TYPES else span.get_span_context()
