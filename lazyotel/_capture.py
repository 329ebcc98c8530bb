"""What a traced call records: its arguments (``cli.args``), the process, its result and outcome.

Imported on the active path only (the first span that is really made), never when a command
is decorated. Nothing here raises into the command: every value is turned into bounded,
valid JSON, however deep or recursive or large it is.

Capture never runs code of a type it does not know (no ``__repr__``, ``__str__``,
``__iter__``, ``__eq__``, ``__hash__``, ``__fspath__``, property or metaclass hook): what each
kind of value is recorded as is listed in ``_values``; a value of any other type is recorded as
``"<module.QualName object>"``. A typer or click ``Context`` is left out. Names are redacted by
parts (see ``_redact``). Each value keeps at most ``VALUE_CAP`` characters and the whole
``cli.args`` at most ``TOTAL_CAP`` bytes.

The process attributes follow the OpenTelemetry semantic conventions for CLI programs, and so
does the status: UNSET on success (OK with ``bootstrap(ok_status=True)``), ERROR when the exit
code is not 0 or an exception escapes.
"""

from __future__ import annotations

import os
import sys

from ._config import SETTINGS
from ._decorator import _fault
from ._provider import describe
from ._redact import HIDES_NEXT, HIDES_VALUE, REDACTED, cache_in_force, hide_value, option, redacted
from ._values import (
    BIG,
    MAX_NODES,
    SCALAR_IDS,
    VALUE_CAP,
    argument_value,
    argv_items,
    bounded_text,
    encoder,
    int_value,
    is_context,
    json_ready,
    key_text,
    truncated,
    type_name,
    utf8_size,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Params = tuple[tuple[str, ...], str, int]

__all__ = ["REDACTED", "VALUE_CAP", "redacted"]

#: Bytes (UTF-8) the whole ``cli.args`` attribute (and ``process.command_args``) may take.
TOTAL_CAP = 4096

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_CO_VARARGS = 0x04
_FALLBACK = '{"args": ["...[not captured]"], "kwargs": {}}'


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


# -- arguments -> cli.args ------------------------------------------------------------------------


def capture(params: Params, args: tuple[Any, ...], kwargs: dict[str, Any], spec: Any) -> str:
    """The ``cli.args`` JSON text ``{"args": [...], "kwargs": {...}}`` of one call.

    Context objects and the method's ``self``/``cls`` are left out; so is every argument a
    callable ``spec(name, value)`` refuses. Values whose parameter name (or a key or field
    name inside them) matches a redact pattern become ``"[REDACTED]"``, and so do values that
    an argv-style option names (``*args`` and list items: ``"--password", "x"``). Each
    value keeps at most ``VALUE_CAP`` characters and the whole at most ``TOTAL_CAP`` bytes,
    with a visible ``...[truncated: ...]`` marker. Never raises, and never runs code of the
    values' types (see the module docstring).

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
        cache = cache_in_force()
        out_args = []
        named = len(names)
        hide_next = False  # the previous ``*args`` item was an option naming a secret
        for index in range(skip, len(args)):
            value = args[index]
            position = index - skip
            name = names[position] if position < named else varargs
            kind = type(value)  # ``is`` only: a metaclass may define ``__eq__``
            scalar = kind is str or kind is int or kind is bool or kind is float or value is None
            if (decide is not None or not scalar) and not _kept(name, value, decide):
                continue
            hidden = cache.get(name) if cache is not None else None
            if hidden is None:
                hidden = bool(name) and redacted(name)
            if hidden or hide_next:
                out_args.append(REDACTED)
                hide_next = False
                continue
            if kind is str and position >= named and (value[:1] == "-" or "=" in value):
                how = option(value)
                hide_next = how == HIDES_NEXT
                if how == HIDES_VALUE:
                    out_args.append(bounded_text(hide_value(value)))
                    continue
            # The common case inline: short ASCII text, small ints, flags, None.
            if (
                (kind is str and len(value) <= VALUE_CAP and value.isascii())
                or (kind is int and -BIG < value < BIG)
                or kind is bool
                or value is None
            ):
                out_args.append(value)
            else:
                out_args.append(argument_value(value))
        out_kwargs = {}
        for key, value in kwargs.items():
            name = key if type(key) is str else str.__str__(key)
            kind = type(value)
            scalar = kind is str or kind is int or kind is bool or kind is float or value is None
            if (decide is not None or not scalar) and not _kept(name, value, decide):
                continue
            hidden = cache.get(name) if cache is not None else None
            if hidden is None:
                hidden = redacted(name)
            # The common case inline: short ASCII text, small ints, flags, None.
            if hidden:
                safe: Any = REDACTED
            elif (
                (kind is str and len(value) <= VALUE_CAP and value.isascii())
                or (kind is int and -BIG < value < BIG)
                or kind is bool
                or value is None
            ):
                safe = value
            else:
                safe = argument_value(value)
            out_kwargs[key_text(name)] = safe
        encode = encoder()
        text = encode({"args": out_args, "kwargs": out_kwargs})
        if utf8_size(text) <= TOTAL_CAP:
            return text
        return _within_total(out_args, out_kwargs, encode)
    except Exception:  # noqa: BLE001 - contract: capture never breaks the command
        return _FALLBACK


def _kept(name: str, value: object, decide: Callable[[str, Any], bool] | None) -> bool:
    if id(type(value)) not in SCALAR_IDS and is_context(value):
        return False
    if decide is None:
        return True
    try:
        return bool(decide(name, value))
    except Exception:  # noqa: BLE001 - a filter that fails keeps the value out (it may be secret)
        return False


def _within_total(out_args: list[Any], out_kwargs: dict[str, Any], encode: Callable[[object], str]) -> str:
    """Keep whole values, in order, while they fit; then one marker for the rest."""
    budget = TOTAL_CAP - 32 - 64  # the frame, and room for one marker
    used, cut = 0, False
    arg_parts: list[str] = []
    for index, value in enumerate(out_args):
        piece = encode(value)
        used += utf8_size(piece) + 2
        if used > budget:
            arg_parts.append(encode(truncated(len(out_args) - index, "more args")))
            cut = True
            break
        arg_parts.append(piece)
    kwarg_parts: list[str] = []
    items = list(out_kwargs.items())
    for index, (key, value) in enumerate(items):
        piece = f"{encode(key)}: {encode(value)}"
        used += utf8_size(piece) + 2
        if cut or used > budget:
            kwarg_parts.append(f'"...": {encode(truncated(len(items) - index, "more kwargs"))}')
            break
        kwarg_parts.append(piece)
    text = f'{{"args": [{", ".join(arg_parts)}], "kwargs": {{{", ".join(kwarg_parts)}}}}}'
    return text if utf8_size(text) <= TOTAL_CAP else _FALLBACK


# -- the process: process.pid, process.executable.name, process.command_args --------------------

_executable: str | None = None
# (the redact patterns, sys.argv, what it was recorded as): one tuple, replaced whole (threads).
_argv_cache: tuple[Any, ...] = ((), (), None)


def executable_name() -> str:
    """The base name of the process's executable (``/proc/self/exe``'s target where there is one)."""
    global _executable
    if _executable is None:
        try:
            target = os.readlink("/proc/self/exe")
            if target.endswith(" (deleted)"):  # the binary was replaced while running
                target = target[: -len(" (deleted)")]
        except (OSError, AttributeError):
            target = sys.executable or ""
        _executable = os.path.basename(target) or "python"
    return _executable


def command_args() -> tuple[str, ...] | None:
    """``sys.argv`` as ``process.command_args``: redacted and capped like ``cli.args``.

    Each item keeps at most ``VALUE_CAP`` characters, the whole at most ``TOTAL_CAP`` bytes
    (then one ``...[truncated: N more args]`` item). Options naming a secret hide their value
    (``--password x``, ``--token=x``, ``DB_PASSWORD=x``). None when ``sys.argv`` is not a list.
    """
    global _argv_cache
    argv = getattr(sys, "argv", None)
    if type(argv) is not list:
        return None
    items = tuple(argv)
    plain = all(type(item) is str for item in items)  # only then is the cache compared safely
    key = (SETTINGS.redact, items)
    cached = _argv_cache
    if plain and cached[2] is not None and key == cached[:2]:
        return cached[2]  # type: ignore[no-any-return]
    walked = argv_items(argv)
    out: list[str] = []
    used = 0
    for index, item in enumerate(walked):
        text = item if type(item) is str else bounded_text(encoder()(item))
        used += utf8_size(text)
        if used > TOTAL_CAP - 64:
            out.append(truncated(len(walked) - index, "more args"))
            break
        out.append(text)
    value = tuple(out)
    if plain:
        _argv_cache = (*key, value)
    return value


def process_attributes(with_argv: bool) -> dict[str, Any]:
    """The OpenTelemetry CLI conventions' process attributes of a command span.

    ``process.command_args`` only when ``with_argv`` (``capture_args`` is plainly True:
    argv would bypass a capture filter, and capture switched off means no arguments).
    """
    attributes: dict[str, Any] = {"process.pid": os.getpid(), "process.executable.name": executable_name()}
    if with_argv:
        argv = command_args()
        if argv is not None:
            attributes["process.command_args"] = argv
    return attributes


# -- result and outcome ---------------------------------------------------------------------------


def attribute_value(value: Any) -> Any:
    """``value`` as an attribute value OpenTelemetry accepts (else its bounded text)."""
    kind = type(value)
    if kind is str:
        return bounded_text(value)
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else int_value(value)  # OTLP carries int64
    if kind is bool or kind is float:
        return value
    if (kind is list or kind is tuple) and 0 < len(value) <= MAX_NODES:
        first = type(value[0])
        if first is int and all(type(i) is int and _INT64_MIN <= i <= _INT64_MAX for i in value):
            return list(value)
        if (first is str or first is bool or first is float) and all(type(item) is first for item in value):
            return [bounded_text(item) for item in value] if first is str else list(value)
    text = json_ready(value, 0, [MAX_NODES, set()])
    return text if type(text) is str else bounded_text(encoder()(text))


def result_attributes(result: Any, hook: Callable[[Any], Any] | None) -> dict[str, Any]:
    """The attributes a call's result adds: ``hook(result)``, else ``operation.id``.

    Without a hook, only a ``dict`` (or subclass) result is looked into, with ``dict.get``.

    Raises:
        Exception: Whatever ``hook`` raises (the caller logs it).
    """
    if hook is not None:
        extra = hook(result)
        if not extra:
            return {}
        return {
            key: attribute_value(value)
            for key, value in extra.items()
            if type(key) is str and key and value is not None
        }
    if issubclass(type(result), dict):
        value = dict.get(result, "operation_id")
        if value is not None:
            return {"operation.id": attribute_value(value)}
    return {}


_status: Any = None


def _statuses() -> Any:
    """(``Status(OK)``, ``Status``, ``StatusCode``), imported once on the active path."""
    global _status
    if _status is None:
        from opentelemetry.trace import Status, StatusCode

        _status = (Status(StatusCode.OK), Status, StatusCode)
    return _status


def record_result(span: Any, result: Any, hook: Callable[[Any], Any] | None) -> None:
    """End the span of a call that returned ``result``. Never raises.

    Sets ``process.exit.code`` 0, the attributes ``result`` adds (``hook(result)``, else
    ``operation.id``), and the status OK only if ``bootstrap(ok_status=True)`` (else UNSET,
    as the OpenTelemetry conventions for CLI programs say).
    """
    try:
        extra = result_attributes(result, hook)
        span.set_attributes({"process.exit.code": 0, **extra})
        if SETTINGS.ok_status:
            span.set_status(_statuses()[0])
    except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
        _fault(exc)
    _end(span)


def record_exception(span: Any, exc: BaseException) -> None:
    """Set the status and attributes ``exc`` calls for, then end the span. Never raises.

    An exit with code 0 or None is a success (``process.exit.code`` 0; OK only with
    ``bootstrap(ok_status=True)``, else UNSET); a non-zero exit is ERROR with
    ``process.exit.code`` and ``error.type`` (the code as text); ``KeyboardInterrupt``,
    ``Abort`` and any other exception are ERROR with ``error.type`` (the exception's
    qualified type name), and an exception that is not an interruption also gets one
    exception event; ``GeneratorExit`` (a generator closed early) sets nothing.
    """
    try:
        ok, status, code_of = _statuses()
        kind, code = outcome(exc)
        if kind == "exit":
            if code == 0:
                span.set_attribute("process.exit.code", 0)
                if SETTINGS.ok_status:
                    span.set_status(ok)
            else:
                span.set_attributes({"process.exit.code": code, "error.type": str(code)})
                span.set_status(status(code_of.ERROR, f"exit code {code}"))
        elif kind == "error":
            span.record_exception(exc)
            span.set_attribute("error.type", type_name(type(exc)))
            span.set_status(status(code_of.ERROR, describe(exc)))
        elif kind != "closed":
            span.set_attribute("error.type", type_name(type(exc)))
            span.set_status(status(code_of.ERROR, type(exc).__name__))
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
    if issubclass(type(code), int):
        value = int.__int__(code)  # type: ignore[arg-type]
        return value if _INT64_MIN <= value <= _INT64_MAX else 1
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
