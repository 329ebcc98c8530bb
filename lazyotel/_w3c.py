"""W3C trace context without OpenTelemetry: ``traceparent``/``tracestate`` in and out.

Bit for bit what opentelemetry-api's ``TraceContextTextMapPropagator`` extracts and injects
(1.45; a differential test in tests/test_w3c.py holds it to the installed API), so a command
that carries ``TRACEPARENT``/``TRACESTATE`` needs no OpenTelemetry import. A hand parser, not a
regular expression: ``re`` costs an import and a compile at start-up. The API's choices kept on
purpose, where they differ from a plain reading of the W3C text:

- ``traceparent``: spaces and tabs around the value are ignored, and so is one final ``\\n``
  (the API's ``$``); hex must be lower case; version ``ff`` is invalid; version ``00`` takes
  nothing after the flags (not even ``-``), a later version anything on the line after a
  ``-``; all eight flag bits are kept.
- ``tracestate``: one member that is not ``key=value`` by the W3C grammar, or a key seen twice,
  drops the whole header (not just the member); so do more than 32 members, and a header
  longer than 8192 characters, padding included. Empty members and spaces or tabs around
  members are ignored, other white space is not: ``"a=1\\n"`` is dropped (a traceparent keeps
  its final newline). The traceparent stands either way.

A leaf: imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_HEX = "0123456789abcdef"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_LOWER_DIGITS = _LOWER + "0123456789"
_KEY_CHARS = _LOWER_DIGITS + "_-*/"
_MAX_MEMBERS = 32
_MAX_TRACESTATE = 8192
# "vv-" + 32 + "-" + 16 + "-ff": the fixed part of every traceparent
_FIXED = 55


def parse_traceparent(
    traceparent: str | None, tracestate: str | None
) -> tuple[int, int, int, list[tuple[str, str]] | None] | None:
    """The remote parent the API's propagator would extract from these two headers.

    Args:
        traceparent: the ``traceparent`` header (``TRACEPARENT`` variable), or None.
        tracestate: the ``tracestate`` header (``TRACESTATE`` variable), or None.

    Returns:
        None when the API finds no valid span context; else ``(trace_id, span_id,
        trace_flags, entries)``, ``entries`` the tracestate's ``(key, value)`` pairs in order,
        or None where the API's ``TraceState`` would be empty.
    """
    fixed = _fixed_part(traceparent) if traceparent else None
    if fixed is None:
        return None
    trace_id, span_id = int(fixed[2:34], 16), int(fixed[34:50], 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(fixed[50:52], 16), _parse_tracestate(tracestate)


def _fixed_part(traceparent: str) -> str | None:
    """Version, trace id, span id and flags as 52 hex digits, if the API takes the traceparent.

    The API's pattern is ``^[ \\t]*(v)-(trace)-(span)-(flags)(-.*)?[ \\t]*$`` (lower-case hex),
    searched without flags: ``.`` stops at a newline, ``$`` also matches before a final one.
    """
    text = traceparent.lstrip(" \t")
    if len(text) < _FIXED or text[2] != "-" or text[35] != "-" or text[52] != "-":
        return None
    fixed = text[:_FIXED].replace("-", "")
    # str.strip leaves nothing exactly when every character is lower-case hex
    if len(fixed) != _FIXED - 3 or fixed.strip(_HEX):
        return None
    rest = text[_FIXED:]
    if rest.endswith("\n"):
        rest = rest[:-1]
    version = fixed[:2]
    if "\n" in rest or version == "ff":
        return None
    if rest[:1] == "-":
        # a fifth field: version 00 has exactly four, a later version may have more
        return fixed if version != "00" else None
    return None if rest.strip(" \t") else fixed


def _parse_tracestate(header: str | None) -> list[tuple[str, str]] | None:
    if header is None or len(header) > _MAX_TRACESTATE:
        return None
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in header.split(","):
        member = raw.strip(" \t")
        if not member:
            continue
        key, equals, value = member.partition("=")
        if not equals or key in seen or not _valid_key(key) or not _valid_value(value):
            return None  # the API drops the whole header, not the member
        seen.add(key)
        entries.append((key, value))
    if not entries or len(entries) > _MAX_MEMBERS:
        return None
    return entries


def _valid_key(key: str) -> bool:
    """``key`` by the W3C grammar: ``lcalpha 0*255(keychar)`` or ``tenant@system``."""
    tenant, at, system = key.partition("@")
    if not at:
        return 0 < len(key) <= 256 and key[0] in _LOWER and not key.strip(_KEY_CHARS)
    # a second "@" stays in ``system`` and fails its character check
    return (
        0 < len(tenant) <= 241
        and 0 < len(system) <= 14
        and tenant[0] in _LOWER_DIGITS
        and system[0] in _LOWER
        and not tenant.strip(_KEY_CHARS)
        and not system.strip(_KEY_CHARS)
    )


def _valid_value(value: str) -> bool:
    """``value``: 1 to 256 printable ASCII characters but ``,`` and ``=``.

    The grammar also forbids a final space: the member was stripped of spaces before.
    """
    return 0 < len(value) <= 256 and value.isascii() and value.isprintable() and "=" not in value


def format_traceparent(trace_id: int, span_id: int, trace_flags: int) -> str:
    """The ``traceparent`` the API's propagator injects for this span context (all flag bits)."""
    return f"00-{trace_id:032x}-{span_id:016x}-{trace_flags:02x}"


def format_tracestate(entries: Iterable[tuple[str, str]]) -> str:
    """``TraceState.to_header()`` of valid ``entries`` (as ``parse_traceparent`` gives them).

    The API injects no ``tracestate`` when it is empty: nor should the caller for ``""``.
    """
    return ",".join(key + "=" + value for key, value in entries)
