"""What a traced call records: its arguments (``cli.args``), its result and its outcome.

Imported on the active path only (the first span that is really made), never when a command
is decorated. Nothing here raises into the command: every value is turned into bounded,
valid JSON, whatever its ``repr`` does, however deep or recursive or large it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import Enum

from ._config import SETTINGS
from ._decorator import _fault
from ._provider import describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Params = tuple[tuple[str, ...], str, int]

#: Characters kept of one argument's value before the truncation marker.
VALUE_CAP = 256
#: Bytes (UTF-8) the whole ``cli.args`` attribute may take.
TOTAL_CAP = 4096
#: What a redacted value is recorded as.
REDACTED = "[REDACTED]"

_MAX_DEPTH = 6  # nesting kept inside one value
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_NODES = 128  # container items visited for one value (each costs at least 2 characters)
_BIG = 1 << 53  # larger ints become strings: JSON readers lose their precision
_CO_VARARGS = 0x04
_SCALARS = (str, int, float, bool, type(None))
_FALLBACK = '{"args": ["...[not captured]"], "kwargs": {}}'
_KEY_CACHE_LIMIT = 4096
_NO_WALK: list[Any] = [0, frozenset()]

_encode: Callable[[object], str] | None = None
_redact_patterns: tuple[str, ...] = ()
_redact_cache: dict[str, bool] = {}


def _encoder() -> Callable[[object], str]:
    global _encode
    if _encode is None:
        import json

        # ensure_ascii=False keeps non-ASCII readable; strings are made UTF-8-safe first.
        _encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False).encode
    return _encode


# -- parameter names ------------------------------------------------------------------------------


def bind(fn: Any, skip: int) -> Params:
    """(names of the positional parameters a call fills, the ``*args`` name, ``skip``).

    Read from the code object, without ``inspect``: a partial's bound arguments and a bound
    method's ``self`` are not among the call's arguments; ``skip`` leading ones (a method's
    ``self`` or ``cls``) are left out of the capture.
    """
    # Another decorator under this one (functools.wraps): its (*args, **kwargs) would hide the
    # parameter names typer, click and inspect.signature see, and so what must be redacted.
    for _ in range(100):
        inner = getattr(fn, "__wrapped__", None)
        if inner is None:
            break
        fn = inner
    offset = 0
    while type(fn).__name__ == "partial" and hasattr(fn, "func"):
        offset += len(getattr(fn, "args", ()))
        fn = fn.func
    code = getattr(fn, "__code__", None)
    if code is None:
        return (), "", skip
    if getattr(fn, "__self__", None) is not None:
        offset += 1
    varargs = (
        code.co_varnames[code.co_argcount + code.co_kwonlyargcount] if code.co_flags & _CO_VARARGS else ""
    )
    return tuple(code.co_varnames[: code.co_argcount][offset + skip :]), varargs, skip


def redacted(name: str) -> bool:
    """Whether ``name`` contains one of the configured redact patterns (case-insensitive)."""
    global _redact_patterns, _redact_cache
    patterns = SETTINGS.redact
    if patterns is not _redact_patterns:
        _redact_patterns, _redact_cache = patterns, {}
    hit = _redact_cache.get(name)
    if hit is None:
        lowered = name.lower()
        hit = any(pattern in lowered for pattern in patterns)
        if len(_redact_cache) < _KEY_CACHE_LIMIT:
            _redact_cache[name] = hit
    return hit


def is_context(value: object) -> bool:
    """A click or typer ``Context`` (typer >= 0.16 vendors click), without importing either."""
    for klass in type(value).__mro__:
        if klass.__name__ == "Context" and str(klass.__module__).split(".")[0] in ("click", "typer"):
            return True
    return False


# -- arguments -> cli.args ------------------------------------------------------------------------


def capture(params: Params, args: tuple[Any, ...], kwargs: dict[str, Any], spec: Any) -> str:
    """The ``cli.args`` JSON text ``{"args": [...], "kwargs": {...}}`` of one call.

    Context objects and the method's ``self``/``cls`` are left out; so is every argument a
    callable ``spec(name, value)`` refuses. Values whose parameter name (or a dict key inside
    them) matches a redact pattern become ``"[REDACTED]"``. Each value keeps at most
    ``VALUE_CAP`` characters and the whole at most ``TOTAL_CAP`` bytes, with a visible
    ``...[truncated: ...]`` marker. Never raises.

    Args:
        params: What ``bind`` returned for the function.
        args: The positional arguments of the call.
        kwargs: The keyword arguments of the call.
        spec: True, or a callable ``(name, value) -> bool`` that decides per argument.

    Returns:
        Valid JSON text of at most ``TOTAL_CAP`` UTF-8 bytes.
    """
    try:
        names, varargs, skip = params
        decide = spec if callable(spec) else None
        cache = _redact_cache if SETTINGS.redact is _redact_patterns else None
        out_args = []
        for index in range(skip, len(args)):
            value = args[index]
            position = index - skip
            name = names[position] if position < len(names) else varargs
            if (decide is not None or type(value) not in _SCALARS) and not _kept(name, value, decide):
                continue
            hidden = cache.get(name) if cache is not None else None
            if hidden is None:
                hidden = bool(name) and redacted(name)
            out_args.append(REDACTED if hidden else _top(value))
        out_kwargs = {}
        for name, value in kwargs.items():
            if (decide is not None or type(value) not in _SCALARS) and not _kept(name, value, decide):
                continue
            hidden = cache.get(name) if cache is not None else None
            if hidden is None:
                hidden = redacted(name)
            # The common case inline: short ASCII text, small ints, flags, None.
            kind = type(value)
            if hidden:
                safe: Any = REDACTED
            elif (
                (kind is str and len(value) <= VALUE_CAP and value.isascii())
                or (kind is int and -_BIG < value < _BIG)
                or kind is bool
                or value is None
            ):
                safe = value
            else:
                safe = _top(value)
            out_kwargs[_name(name)] = safe
        encode = _encode or _encoder()
        text = encode({"args": out_args, "kwargs": out_kwargs})
        if _size(text) <= TOTAL_CAP:
            return text
        return _within_total(out_args, out_kwargs, encode)
    except Exception:  # noqa: BLE001 - contract: capture never breaks the command
        return _FALLBACK


def _kept(name: str, value: object, decide: Callable[[str, Any], bool] | None) -> bool:
    if type(value) not in _SCALARS and is_context(value):
        return False
    if decide is None:
        return True
    try:
        return bool(decide(name, value))
    except Exception:  # noqa: BLE001 - a filter that fails keeps the value out (it may be secret)
        return False


def _name(name: str) -> str:
    """A key as it may be encoded: short ASCII as is, anything else bounded and made valid."""
    return name if len(name) <= VALUE_CAP and name.isascii() else _text(name)


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def _marker(count: int, unit: str) -> str:
    return f"...[truncated: {count} {unit}]"


def _within_total(out_args: list[Any], out_kwargs: dict[str, Any], encode: Callable[[object], str]) -> str:
    """Keep whole values, in order, while they fit; then one marker for the rest."""
    budget = TOTAL_CAP - 32 - 64  # the frame, and room for one marker
    used, cut = 0, False
    arg_parts: list[str] = []
    for index, value in enumerate(out_args):
        piece = encode(value)
        used += _size(piece) + 2
        if used > budget:
            arg_parts.append(encode(_marker(len(out_args) - index, "more args")))
            cut = True
            break
        arg_parts.append(piece)
    kwarg_parts: list[str] = []
    items = list(out_kwargs.items())
    for index, (key, value) in enumerate(items):
        piece = f"{encode(key)}: {encode(value)}"
        used += _size(piece) + 2
        if cut or used > budget:
            kwarg_parts.append(f'"...": {encode(_marker(len(items) - index, "more kwargs"))}')
            break
        kwarg_parts.append(piece)
    text = f'{{"args": [{", ".join(arg_parts)}], "kwargs": {{{", ".join(kwarg_parts)}}}}}'
    return text if _size(text) <= TOTAL_CAP else _FALLBACK


def _top(value: object) -> Any:
    """One argument as a JSON-ready value within ``VALUE_CAP`` characters."""
    try:
        if type(value) in _SCALARS:
            return _safe(value, 0, _NO_WALK)  # the common case: no container to walk
        safe = _safe(value, 0, [_MAX_NODES, set()])
        if isinstance(safe, (list, dict)):
            text = (_encode or _encoder())(safe)
            if len(text) > VALUE_CAP:
                return _text(text)
        return safe
    except Exception:  # noqa: BLE001 - a hostile __iter__, __len__, __fspath__...
        return _unrepresentable(value)


def _unrepresentable(value: object) -> str:
    try:
        return _text(f"<{type(value).__qualname__} object>")
    except Exception:  # noqa: BLE001
        return "<object>"


def _text(text: str) -> str:
    """``text`` cut to ``VALUE_CAP`` characters and made encodable as UTF-8.

    Lone surrogates (from ``os.fsdecode`` of a non-UTF-8 file name, say) would make the
    exporter fail; they are written as ``\\udcxx`` escapes instead.
    """
    size = len(text)
    head = text[:VALUE_CAP]
    if not head.isascii():
        try:
            head.encode("utf-8")
        except UnicodeEncodeError:
            head = head.encode("utf-8", "backslashreplace").decode("utf-8")
            if len(head) > VALUE_CAP:
                head, size = head[:VALUE_CAP], max(size, VALUE_CAP + 1)
    if size > VALUE_CAP:
        return head + _marker(size, "chars")
    return head


def _bytes(value: bytes | bytearray | memoryview) -> str:
    size = value.nbytes if isinstance(value, memoryview) else len(value)
    text = repr(bytes(value[:VALUE_CAP]))[:VALUE_CAP]
    return text + _marker(size, "bytes") if size > VALUE_CAP or len(text) >= VALUE_CAP else text


def _int(value: int) -> int | str:
    if -_BIG < value < _BIG:
        return value
    try:
        return _text(str(value))
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"<int of {value.bit_length()} bits>"


def _safe(value: Any, depth: int, walk: list[Any]) -> Any:
    """A JSON-ready copy of ``value``: bounded in depth, items and characters."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= VALUE_CAP and value.isascii() else _text(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return _int(value)
    if kind is float:
        return value if value - value == 0 else repr(value)  # nan and inf are not JSON
    if isinstance(value, Enum):
        return _safe(value.value, depth + 1, walk) if depth < _MAX_DEPTH else _text(str(value.name))
    if isinstance(value, str):  # subclasses: their own __str__ may do anything
        return _text(str.__str__(value))
    if isinstance(value, int):
        return _int(int.__int__(value))
    if isinstance(value, float):
        return _safe(float.__float__(value), depth, walk)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(value)
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return _text(path) if isinstance(path, str) else _bytes(path)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if is_context(value):
            return "<Context>"
        if depth >= _MAX_DEPTH:
            return "{...}" if isinstance(value, Mapping) else "[...]"
        seen = walk[1]
        if id(value) in seen:
            return "<recursion>"
        seen.add(id(value))
        try:
            return _container(value, depth, walk)
        finally:
            seen.discard(id(value))
    if is_context(value):
        return "<Context>"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        return _unrepresentable(value)
    return _text(text) if isinstance(text, str) else _unrepresentable(value)


def _container(value: Any, depth: int, walk: list[Any]) -> Any:
    count = 0
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if walk[0] <= 0:
                out["..."] = _marker(len(value) - count, "more items")
                break
            walk[0] -= 1
            count += 1
            name = key if type(key) is str else _key(key)
            out[_name(name)] = REDACTED if redacted(name) else _safe(item, depth + 1, walk)
        return out
    items: list[Any] = []
    if isinstance(value, (set, frozenset)):
        value = _ordered(value)
    for item in value:
        if walk[0] <= 0:
            items.append(_marker(len(value) - count, "more items"))
            break
        walk[0] -= 1
        count += 1
        items.append(_safe(item, depth + 1, walk))
    return items


def _key(key: object) -> str:
    """A dict key as JSON text allows: a string (``None``, numbers and tuples spelled out)."""
    if key is None or type(key) in (bool, int, float):
        return str(key)
    safe = _safe(key, 0, [8, set()])
    return safe if isinstance(safe, str) else _text((_encode or _encoder())(safe))


def _ordered(value: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(value)
    except Exception:  # noqa: BLE001 - mixed types: keep iteration order
        return list(value)


# -- result and outcome ---------------------------------------------------------------------------


def attribute_value(value: object) -> Any:
    """``value`` as an attribute value OpenTelemetry accepts (else its bounded text)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= _INT64_MAX else _int(value)  # OTLP carries int64
    if isinstance(value, (bool, float)):
        return value
    if isinstance(value, (list, tuple)) and 0 < len(value) <= _MAX_NODES:
        kind = bool if isinstance(value[0], bool) else type(value[0])
        if kind is int and all(type(i) is int and _INT64_MIN <= i <= _INT64_MAX for i in value):
            return list(value)
        if kind in (str, bool, float) and all(type(item) is kind for item in value):
            return [_text(item) for item in value] if kind is str else list(value)
    text = _safe(value, 0, [_MAX_NODES, set()])
    return text if isinstance(text, str) else _text((_encode or _encoder())(text))


def result_attributes(result: Any, hook: Callable[[Any], Any] | None) -> dict[str, Any]:
    """The attributes a call's result adds: ``hook(result)``, else ``operation.id``.

    Raises:
        Exception: Whatever ``hook`` or a hostile mapping raises (the caller logs it).
    """
    if hook is not None:
        extra = hook(result)
        if not extra:
            return {}
        return {
            key: attribute_value(value)
            for key, value in extra.items()
            if isinstance(key, str) and key and value is not None
        }
    if isinstance(result, Mapping):
        value = result.get("operation_id")
        if value is not None:
            return {"operation.id": attribute_value(value)}
    return {}


def record_result(span: Any, result: Any, hook: Callable[[Any], Any] | None) -> None:
    """Set the attributes ``result`` adds, then end the span. Never raises."""
    try:
        extra = result_attributes(result, hook)
        if extra:
            span.set_attributes(extra)
    except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
        _fault(exc)
    _end(span)


def record_exception(span: Any, exc: BaseException) -> None:
    """Set the status (and event, exit code) ``exc`` calls for, then end the span. Never raises.

    An exit with code 0 or None is OK; a non-zero exit is ERROR with ``process.exit.code``;
    ``KeyboardInterrupt`` and ``Abort`` are ERROR; ``GeneratorExit`` (a generator closed
    early) leaves the status unset; anything else is one exception event and ERROR.
    """
    try:
        from opentelemetry.trace import Status, StatusCode

        kind, code = outcome(exc)
        if kind == "exit":
            if code == 0:
                span.set_status(Status(StatusCode.OK))
            else:
                span.set_attribute("process.exit.code", code)
                span.set_status(Status(StatusCode.ERROR, f"exit code {code}"))
        elif kind == "error":
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, describe(exc)))
        elif kind != "closed":
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    except Exception as error:  # noqa: BLE001
        _fault(error)
    _end(span)


def _end(span: Any) -> None:
    try:
        span.end()
    except Exception as exc:  # noqa: BLE001
        _fault(exc)


def exit_code(code: object) -> int:
    """The status ``SystemExit(code)`` leaves: None is 0, an int itself, anything else 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    return 1


def outcome(exc: BaseException) -> tuple[str, int]:
    """How an exception ends a command span.

    Returns:
        ``("exit", code)`` for ``SystemExit`` and click's or typer's ``Exit``;
        ``("abort", 1)`` for their ``Abort``; ``("interrupt", 1)`` for ``KeyboardInterrupt``;
        ``("closed", 0)`` for ``GeneratorExit``; else ``("error", 1)``. The click and typer
        classes are recognised by name and module, so click is never imported.
    """
    if isinstance(exc, SystemExit):
        return "exit", exit_code(exc.code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupt", 1
    if isinstance(exc, GeneratorExit):
        return "closed", 0
    for klass in type(exc).__mro__:
        if klass.__name__ in ("Exit", "Abort") and str(klass.__module__).split(".")[0] in ("click", "typer"):
            if klass.__name__ == "Exit":
                return "exit", exit_code(getattr(exc, "exit_code", 0))
            return "abort", 1
    return "error", 1
