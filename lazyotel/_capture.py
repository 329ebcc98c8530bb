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
from ._redact import HIDES_NEXT, HIDES_VALUE, REDACTED, cache_in_force, hide_value, option, redacted
from ._values import (
    BIG,
    SCALAR_IDS,
    VALUE_CAP,
    argument_value,
    argv_items,
    bounded_text,
    encoder,
    is_context,
    key_text,
    truncated,
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

_FALLBACK = '{"args": ["...[not captured]"], "kwargs": {}}'


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
        decide = spec if callable(spec) else None
        cache = cache_in_force()
        out_args = _positional(params, args, decide, cache)
        out_kwargs = _keywords(kwargs, decide, cache)
        encode = encoder()
        text = encode({"args": out_args, "kwargs": out_kwargs})
        if utf8_size(text) <= TOTAL_CAP:
            return text
        return _within_total(out_args, out_kwargs, encode)
    except Exception:  # noqa: BLE001 - contract: capture never breaks the command
        return _FALLBACK


def _positional(
    params: Params, args: tuple[Any, ...], decide: Callable[[str, Any], bool] | None, cache: Any
) -> list[Any]:
    names, varargs, skip = params
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
    return out_args


def _keywords(
    kwargs: dict[str, Any], decide: Callable[[str, Any], bool] | None, cache: Any
) -> dict[str, Any]:
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
    return out_kwargs


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
