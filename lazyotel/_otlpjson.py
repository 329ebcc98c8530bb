"""Finished spans <-> the OTLP JSON mapping, in lazyotel's spool envelope.

A spool file is one JSON object: an ``ExportTraceServiceRequest`` in the OTLP JSON mapping
(``resourceSpans`` > ``scopeSpans`` > ``spans``; trace and span ids as lower-case hex, enums
as integers, 64-bit integers and nanosecond times as decimal strings) plus one more key,
``lazyotel``, the envelope::

    {"lazyotel": {"format": "lazyotel-spool", "version": 1, "created": "<unix ns>",
                  "spans": 3, "destination": {"endpoint": "http://host:4318/v1/traces",
                                              "protocol": "http/protobuf"}},
     "resourceSpans": [...]}

An OTLP tool that ignores unknown fields reads the file as is. No header value is ever
written: the shipper takes them from its environment.

``encode`` reads only the SDK ``ReadableSpan`` read surface (``name``, ``context``,
``parent``, ``kind``, ``start_time``, ``end_time``, ``attributes``, ``events``, ``links``,
``status``, ``resource``, ``instrumentation_scope``, ``dropped_*``), so any object that has it
can be spooled. It encodes with ``_jsonenc`` (no ``json`` import; ``base64`` for bytes values) and
decodes with ``json``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

FORMAT = "lazyotel-spool"
VERSION = 1


class FormatError(ValueError):
    """The file is not a spool file this lazyotel can read (corrupt, or not ours)."""


class NewerFormat(FormatError):
    """The file was written by a newer lazyotel: leave it for that version's shipper."""


# -- encoding --------------------------------------------------------------------------------


def _double(value: float) -> dict[str, Any]:
    if value in (float("inf"), float("-inf")):
        # The protobuf JSON mapping spells non-finite doubles as strings.
        return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
    if value != value:  # noqa: PLR0124 - NaN, without importing math
        return {"doubleValue": "NaN"}
    return {"doubleValue": value}


def _bytes(value: bytes) -> dict[str, Any]:
    import base64

    return {"bytesValue": base64.b64encode(value).decode("ascii")}


#: ``AnyValue`` encoders by Python type, first match wins (bool before int: it is one).
_ENCODERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], dict[str, Any]]], ...] = (
    (type(None), lambda value: {}),  # a None in a sequence: an empty AnyValue, as protobuf sends it
    (bool, lambda value: {"boolValue": value}),
    (int, lambda value: {"intValue": str(value)}),
    (float, _double),
    (str, lambda value: {"stringValue": value}),
    (bytes, _bytes),
    ((list, tuple), lambda value: {"arrayValue": {"values": [_any(item) for item in value]}}),
)


def _any(value: Any) -> dict[str, Any]:
    for types, encode in _ENCODERS:
        if isinstance(value, types):
            return encode(value)
    if hasattr(value, "items"):
        return {"kvlistValue": {"values": _attributes(value)}}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    return [{"key": str(key), "value": _any(value)} for key, value in attributes.items()]


def _hex(number: int, width: int) -> str:
    return format(number, f"0{width}x")


def _trace_state(context: Any) -> str:
    state = getattr(context, "trace_state", None)
    if not state:
        return ""
    to_header = getattr(state, "to_header", None)
    return str(to_header()) if to_header is not None else ",".join(f"{k}={v}" for k, v in state.items())


def _flags(trace_flags: Any, remote: bool) -> int:
    """OTLP span flags: the W3C trace flags, "remote is known" and whether it is remote."""
    return (int(trace_flags) & 0xFF) | 0x100 | (0x200 if remote else 0)


def _with_dropped(item: dict[str, Any], source: Any) -> dict[str, Any]:
    """``item`` (an event or a link) with the count of attributes ``source`` dropped, if any."""
    dropped = int(getattr(source, "dropped_attributes", 0) or 0)
    if dropped:
        item["droppedAttributesCount"] = dropped
    return item


def _event(event: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "timeUnixNano": str(event.timestamp or 0),
        "name": event.name,
        "attributes": _attributes(event.attributes),
    }
    return _with_dropped(item, event)


def _link(link: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "traceId": _hex(link.context.trace_id, 32),
        "spanId": _hex(link.context.span_id, 16),
        "attributes": _attributes(link.attributes),
        "flags": _flags(getattr(link.context, "trace_flags", 0) or 0, link.context.is_remote),
    }
    state = _trace_state(link.context)
    if state:
        item["traceState"] = state
    return _with_dropped(item, link)


def encode_span(span: Any) -> dict[str, Any]:
    """One span in the OTLP JSON mapping."""
    context = span.context
    parent = span.parent
    out: dict[str, Any] = {
        "traceId": _hex(context.trace_id, 32),
        "spanId": _hex(context.span_id, 16),
        "name": span.name,
        "kind": int(getattr(span.kind, "value", 0)) + 1,  # SDK INTERNAL=0 -> SPAN_KIND_INTERNAL=1
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
        "attributes": _attributes(span.attributes),
        "flags": _flags(context.trace_flags, parent is not None and parent.is_remote),
    }
    state = _trace_state(context)
    if state:
        out["traceState"] = state
    if parent is not None:
        out["parentSpanId"] = _hex(parent.span_id, 16)
    events = [_event(event) for event in span.events or ()]
    if events:
        out["events"] = events
    links = [_link(link) for link in span.links or ()]
    if links:
        out["links"] = links
    for name, key in (
        ("dropped_attributes", "droppedAttributesCount"),
        ("dropped_events", "droppedEventsCount"),
        ("dropped_links", "droppedLinksCount"),
    ):
        count = int(getattr(span, name, 0) or 0)
        if count:
            out[key] = count
    status = span.status
    code = int(getattr(getattr(status, "status_code", None), "value", 0) or 0)
    if code or getattr(status, "description", None):
        out["status"] = {"code": code}
        if status.description:
            out["status"]["message"] = status.description
    return out


def _scope_key(scope: Any) -> tuple[Any, ...]:
    if scope is None:
        return ("", "", "", ())
    attributes = getattr(scope, "attributes", None) or {}
    return (
        scope.name or "",
        scope.version or "",
        getattr(scope, "schema_url", "") or "",
        tuple(sorted((str(k), repr(v)) for k, v in attributes.items())),
    )


def encode_request(spans: Iterable[Any]) -> tuple[list[dict[str, Any]], int]:
    """``resourceSpans`` for ``spans``, grouped by resource then scope, in order; and the count."""
    resources: dict[int, tuple[Any, dict[tuple[Any, ...], tuple[Any, list[dict[str, Any]]]]]] = {}
    count = 0
    for span in spans:
        resource = span.resource
        entry = resources.get(id(resource))
        if entry is None:
            entry = resources[id(resource)] = (resource, {})
        scope = span.instrumentation_scope
        key = _scope_key(scope)
        group = entry[1].get(key)
        if group is None:
            group = entry[1][key] = (scope, [])
        group[1].append(encode_span(span))
        count += 1
    out = []
    for resource, scopes in resources.values():
        scope_spans = []
        for scope, encoded in scopes.values():
            item: dict[str, Any] = {"scope": {}, "spans": encoded}
            if scope is not None:
                item["scope"] = {"name": scope.name or "", "version": scope.version or ""}
                attributes = getattr(scope, "attributes", None)
                if attributes:
                    item["scope"]["attributes"] = _attributes(attributes)
                if getattr(scope, "schema_url", ""):
                    item["schemaUrl"] = scope.schema_url
            scope_spans.append(item)
        resource_item: dict[str, Any] = {
            "resource": {"attributes": _attributes(getattr(resource, "attributes", None))},
            "scopeSpans": scope_spans,
        }
        if getattr(resource, "schema_url", ""):
            resource_item["schemaUrl"] = resource.schema_url
        out.append(resource_item)
    return out, count


def dumps(spans: Iterable[Any], endpoint: str, protocol: str, created_ns: int) -> tuple[bytes, int]:
    """A spool file's bytes for ``spans`` and the number of spans in it."""
    from ._jsonenc import encoder

    resource_spans, count = encode_request(spans)
    document = {
        # First, so ``lazyotel spool`` can read the envelope from a file's first bytes.
        "lazyotel": {
            "format": FORMAT,
            "version": VERSION,
            "created": str(created_ns),
            "spans": count,
            "destination": {"endpoint": endpoint, "protocol": protocol},
        },
        "resourceSpans": resource_spans,
    }
    text = encoder(separators=(",", ":"), ensure_ascii=False)(document)
    # A lone surrogate (an undecodable file name, as os.listdir gives it) has no UTF-8 form: it
    # becomes "?", rather than costing the whole file (the SDK's exporter would fail the batch).
    return text.encode("utf-8", "replace"), count


# -- decoding --------------------------------------------------------------------------------


def loads(data: bytes) -> dict[str, Any]:
    """The document in a spool file, its envelope checked.

    Raises:
        NewerFormat: Written by a newer lazyotel (a higher version).
        FormatError: Not a spool file, or corrupt (truncated by a crash, say).
    """
    import json

    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"not valid JSON ({type(exc).__name__})"
        raise FormatError(msg) from None
    envelope = document.get("lazyotel") if isinstance(document, dict) else None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        msg = "not a lazyotel spool file"
        raise FormatError(msg)
    version = envelope.get("version")
    if not isinstance(version, int):
        msg = "no format version"
        raise FormatError(msg)
    if version > VERSION:
        msg = f"format version {version} is newer than this lazyotel's ({VERSION})"
        raise NewerFormat(msg)
    destination = envelope.get("destination")
    if not isinstance(destination, dict) or not isinstance(destination.get("endpoint"), str):
        msg = "no destination"
        raise FormatError(msg)
    if not isinstance(document.get("resourceSpans"), list):
        msg = "no resourceSpans"
        raise FormatError(msg)
    return document  # type: ignore[no-any-return]


def _bytes_value(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


#: ``AnyValue`` decoders by key, in the order they are looked for.
_DECODERS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("stringValue", lambda raw: raw),
    ("boolValue", bool),
    ("intValue", int),
    ("doubleValue", float),
    ("arrayValue", lambda raw: tuple(value(item) for item in raw.get("values", ()))),
    ("kvlistValue", lambda raw: attributes(raw.get("values", ()))),
    ("bytesValue", _bytes_value),
)


def value(any_value: Mapping[str, Any]) -> Any:
    """An ``AnyValue`` as the Python value an SDK attribute holds (arrays as tuples)."""
    for key, decode in _DECODERS:
        if key in any_value:
            return decode(any_value[key])
    return None


def attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: value(item.get("value", {})) for item in items or ()}
