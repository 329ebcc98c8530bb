"""What a traced call records: its arguments (``cli.args``), the process, its result and outcome.

Imported on the active path only (the first span that is really made), never when a command
is decorated. Nothing here raises into the command: every value is turned into bounded,
valid JSON, however deep or recursive or large it is.

Capture never runs code of a type it does not know: no ``__repr__``, ``__str__``,
``__iter__``, ``__len__``, ``__eq__``, ``__hash__``, ``__fspath__``, property, descriptor or
metaclass hook of the argument's type. A type is looked at only through its own namespace
(``type.__dict__`` descriptors, never attribute access), and values are read with the
built-in base type's own methods (``dict.items(value)``, ``str.__str__(value)``...), so an
override in a subclass is never called. What is recorded:

- ``None``, ``bool``, ``int``, ``float``, ``str`` and their subclasses (by the base value),
  ``bytes``/``bytearray``/``memoryview`` (their ``repr``, cut), ``Enum`` members (their
  value);
- ``dict`` and its subclasses, ``list``, ``tuple``, ``set``, ``frozenset`` and their
  subclasses, walked (keys redacted by name, ``list``/``tuple`` items read as argv);
- dataclass instances and named tuples, walked as mappings of their fields (found from the
  class's ``__dataclass_fields__`` / ``_fields``, without importing ``dataclasses``; a
  field declared ``repr=False`` is recorded as ``"[REDACTED]"``; a field that only a
  property or custom descriptor could read as ``"<not read>"``); ``argparse.Namespace`` and
  ``types.SimpleNamespace``, walked as mappings of their attributes;
- exactly these standard-library types, by their standard text: ``complex``, ``range``,
  ``datetime.datetime``/``date``/``time`` (ISO 8601), ``timedelta``, ``timezone``,
  ``decimal.Decimal``, ``fractions.Fraction``, ``uuid.UUID``, the ``pathlib`` path classes
  and the ``ipaddress`` address, network and interface classes (their subclasses are
  unknown types);
- any other value: ``"<module.QualName object>"``, its type's qualified name only; a typer
  or click ``Context``: left out at the top level, ``"<Context>"`` inside a value.

Names are redacted by parts (see ``_redact``). Each value keeps at most ``VALUE_CAP``
characters and the whole ``cli.args`` at most ``TOTAL_CAP`` bytes.
"""

from __future__ import annotations

import os
import sys
from enum import Enum

from ._config import SETTINGS
from ._decorator import _fault
from ._provider import describe
from ._redact import HIDES_NEXT, HIDES_VALUE, REDACTED, cache_in_force, hide_value, option, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    Params = tuple[tuple[str, ...], str, int]

__all__ = ["REDACTED", "redacted"]

#: Characters kept of one argument's value before the truncation marker.
VALUE_CAP = 256
#: Bytes (UTF-8) the whole ``cli.args`` attribute (and ``process.command_args``) may take.
TOTAL_CAP = 4096

_MAX_DEPTH = 6  # nesting kept inside one value
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_NODES = 128  # container items visited for one value (each costs at least 2 characters)
_BIG = 1 << 53  # larger ints become strings: JSON readers lose their precision
_CO_VARARGS = 0x04
_FALLBACK = '{"args": ["...[not captured]"], "kwargs": {}}'
_NO_WALK: list[Any] = [0, frozenset()]
_NOT_READ = "<not read>"
# ``id`` of the exact scalar types: a membership test that hashes an int, never the type
# (a metaclass may define ``__eq__``/``__hash__``).
_SCALAR_IDS = frozenset(map(id, (str, int, float, bool, type(None))))

# A class's own attributes, read with ``type``'s descriptors: never through the class's
# metaclass, its ``__getattribute__`` or a property.
_MRO = type.__dict__["__mro__"].__get__
_NAMESPACE = type.__dict__["__dict__"].__get__
_NAME = type.__dict__["__name__"].__get__
_QUALNAME = type.__dict__["__qualname__"].__get__
_MODULE = type.__dict__["__module__"].__get__
_GETSET = type(type.__dict__["__dict__"])  # how an instance's ``__dict__`` is reached
_MEMBER = type(type.__dict__["__mro__"])  # a ``__slots__`` entry

# What capture may do with a value of a type, decided once per type (see ``_classify``).
_UNKNOWN, _CONTEXT, _ENUM, _STR, _INT, _FLOAT, _BYTES, _KNOWN = range(8)
_DICT, _FIELDS, _NAMESPACE_KIND, _LIST, _TUPLE, _SET = range(8, 14)
_MAPPINGS = (_DICT, _FIELDS, _NAMESPACE_KIND)
_KIND_CACHE_LIMIT = 4096
# Built-in bases, in the order they are tested; a value is read with the base's own methods.
_BASES: tuple[tuple[Any, int], ...] = (
    (str, _STR),
    (int, _INT),
    (float, _FLOAT),
    (dict, _DICT),
    (list, _LIST),
    (bytes, _BYTES),
    (bytearray, _BYTES),
    (memoryview, _BYTES),
    (set, _SET),
    (frozenset, _SET),
)
# Exactly these standard-library classes are recorded by their own text.
_KNOWN_TYPES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("builtins", ("complex", "range"), "repr"),
    ("datetime", ("datetime", "date", "time"), "isoformat"),
    ("datetime", ("timedelta", "timezone"), "str"),
    ("decimal", ("Decimal",), "str"),
    ("fractions", ("Fraction",), "str"),
    ("uuid", ("UUID",), "str"),
    (
        "pathlib",
        ("PurePath", "PurePosixPath", "PureWindowsPath", "Path", "PosixPath", "WindowsPath"),
        "str",
    ),
    (
        "ipaddress",
        (
            "IPv4Address",
            "IPv6Address",
            "IPv4Network",
            "IPv6Network",
            "IPv4Interface",
            "IPv6Interface",
        ),
        "str",
    ),
)
_NAMESPACE_TYPES = (("argparse", "Namespace"), ("types", "SimpleNamespace"))

_encode: Callable[[object], str] | None = None
_kinds: dict[int, tuple[type, int, Any]] = {}


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


# -- what a type allows ---------------------------------------------------------------------------


def type_name(kind: type) -> str:
    """``module.QualName`` of a class (``QualName`` for built-ins), read without running its code."""
    try:
        qualname = _QUALNAME(kind)
        module = _MODULE(kind)
    except Exception:  # noqa: BLE001 - not a class after all
        return "object"
    if type(module) is not str or module == "builtins":
        return str.__str__(qualname)
    return f"{module}.{qualname}"


def _label(kind: type) -> str:
    return _text(f"<{type_name(kind)} object>")


def _kind_of(kind: type) -> tuple[int, Any]:
    """(what capture may do with values of ``kind``, what it needs to), cached per class."""
    entry = _kinds.get(id(kind))
    if entry is not None and entry[0] is kind:
        return entry[1], entry[2]
    try:
        code, extra = _classify(kind)
    except Exception:  # noqa: BLE001 - a class built to confuse: nothing is read from its values
        code, extra = _UNKNOWN, None
    if len(_kinds) < _KIND_CACHE_LIMIT:
        _kinds[id(kind)] = (kind, code, extra)  # holds the class: its id is not reused meanwhile
    return code, extra


def _own(mro: tuple[type, ...], name: str) -> Any:
    """The first class namespace in ``mro`` that defines ``name``, its value (else None)."""
    for klass in mro:
        namespace = _NAMESPACE(klass)
        if name in namespace:
            return namespace[name]
    return None


def _classify(kind: type) -> tuple[int, Any]:
    mro = _MRO(kind)
    for klass in mro:
        module = _MODULE(klass)
        if _NAME(klass) == "Context" and type(module) is str and module.split(".")[0] in ("click", "typer"):
            return _CONTEXT, None
    if issubclass(kind, Enum):  # ``type.__subclasscheck__``: a walk of the MRO, no user code
        return _ENUM, _own(mro, "__dict__")
    fields = _own(mro, "__dataclass_fields__")
    if fields is not None:
        return _dataclass(mro, fields)
    for base, code in _BASES:
        if issubclass(kind, base):
            return code, base
    if issubclass(kind, tuple):
        names = _own(mro, "_fields")
        if type(names) is tuple and all(type(name) is str for name in names):
            return _FIELDS, (names, (), None, {})  # a named tuple: values read as a tuple
        return _TUPLE, tuple
    for module_name, names, how in _KNOWN_TYPES:
        module = sys.modules.get(module_name)
        if module is not None and any(getattr(module, name, None) is kind for name in names):
            return _KNOWN, how
    for module_name, name in _NAMESPACE_TYPES:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, name, None) is kind:
            return _NAMESPACE_KIND, None
    return _UNKNOWN, None


def _dataclass(mro: tuple[type, ...], fields: Any) -> tuple[int, Any]:
    """A dataclass's real fields (not ``ClassVar``/``InitVar``) and how to read each value."""
    dataclasses = sys.modules.get("dataclasses")
    field_class = getattr(dataclasses, "Field", None)
    real = getattr(dataclasses, "_FIELD", None)
    if type(fields) is not dict or field_class is None:
        return _UNKNOWN, None
    names: list[str] = []
    hidden: list[str] = []
    for name, field in dict.items(fields):
        if type(name) is not str or type(field) is not field_class or field._field_type is not real:
            continue
        names.append(name)
        if field.repr is False:
            hidden.append(name)
    slots = {}
    for name in names:
        descriptor = _own(mro, name)
        if type(descriptor) is _MEMBER:
            slots[name] = descriptor
    return _FIELDS, (tuple(names), tuple(hidden), _own(mro, "__dict__"), slots)


def is_context(value: object) -> bool:
    """A click or typer ``Context`` (typer >= 0.16 vendors click), without importing either."""
    return _kind_of(type(value))[0] == _CONTEXT


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
                    out_args.append(_text(hide_value(value)))
                    continue
            # The common case inline: short ASCII text, small ints, flags, None.
            if (
                (kind is str and len(value) <= VALUE_CAP and value.isascii())
                or (kind is int and -_BIG < value < _BIG)
                or kind is bool
                or value is None
            ):
                out_args.append(value)
            else:
                out_args.append(_top(value))
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
    if id(type(value)) not in _SCALAR_IDS and is_context(value):
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
        if id(type(value)) in _SCALAR_IDS:
            return _safe(value, 0, _NO_WALK)  # the common case: no container to walk
        safe = _safe(value, 0, [_MAX_NODES, set()])
        if type(safe) is list or type(safe) is dict:
            text = (_encode or _encoder())(safe)
            if len(text) > VALUE_CAP:
                return _text(text)
        return safe
    except Exception:  # noqa: BLE001 - e.g. a released memoryview
        return _label(type(value))


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


def _bytes(value: Any, base: Any) -> str:
    if base is memoryview:
        size, head = value.nbytes, bytes(value[:VALUE_CAP])
    else:  # the base type's own methods: a subclass's overrides are not called
        size, head = base.__len__(value), bytes(base.__getitem__(value, slice(0, VALUE_CAP)))
    text = repr(head)[:VALUE_CAP]
    return text + _marker(size, "bytes") if size > VALUE_CAP or len(text) >= VALUE_CAP else text


def _int(value: int) -> int | str:
    if -_BIG < value < _BIG:
        return value
    try:
        return _text(str(value))
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"<int of {value.bit_length()} bits>"


def _instance_dict(value: object, descriptor: Any) -> dict[str, Any] | None:
    """``value.__dict__`` through the class's own ``__dict__`` descriptor, if it is the usual one."""
    if type(descriptor) is not _GETSET:
        return None
    found = descriptor.__get__(value)
    return found if type(found) is dict else None


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
    code, extra = _kind_of(kind)
    if code == _STR:  # subclasses: read as the base type, their own methods may do anything
        return _text(str.__str__(value))
    if code == _INT:
        return _int(int.__int__(value))
    if code == _FLOAT:
        return _safe(float.__float__(value), depth, walk)
    if code == _BYTES:
        return _bytes(value, extra)
    if code == _ENUM:
        members = _instance_dict(value, extra)
        if members is None or "_value_" not in members:
            return _label(kind)
        if depth < _MAX_DEPTH:
            return _safe(members["_value_"], depth + 1, walk)
        name = members.get("_name_")
        return _text(name) if type(name) is str else _label(kind)
    if code == _KNOWN:
        text = value.isoformat() if extra == "isoformat" else repr(value) if extra == "repr" else str(value)
        return _text(text)
    if code >= _DICT:
        if depth >= _MAX_DEPTH:
            return "{...}" if code in _MAPPINGS else "[...]"
        seen = walk[1]
        if id(value) in seen:
            return "<recursion>"
        seen.add(id(value))
        try:
            if code in _MAPPINGS:
                return _mapping(value, code, extra, depth, walk)
            return _sequence(value, code, extra, depth, walk)
        finally:
            seen.discard(id(value))
    if code == _CONTEXT:
        return "<Context>"
    return _label(kind)


def _pairs(value: Any, code: int, extra: Any) -> tuple[int, Iterable[tuple[Any, Any]]]:
    """(how many, the (key, value) pairs) of a mapping-like value, read without its code."""
    if code == _DICT:
        return dict.__len__(value), dict.items(value)
    if code == _NAMESPACE_KIND:  # exactly argparse.Namespace or types.SimpleNamespace
        attributes = vars(value)
        return len(attributes), attributes.items()
    names, hidden, descriptor, slots = extra
    if descriptor is None and not slots:  # a named tuple
        return len(names), zip(names, tuple.__iter__(value))
    return len(names), _fields(value, names, hidden, _instance_dict(value, descriptor), slots)


def _fields(
    value: Any, names: tuple[str, ...], hidden: tuple[str, ...], own: dict[str, Any] | None, slots: Any
) -> Iterable[tuple[str, Any]]:
    for name in names:
        if name in hidden:
            yield name, REDACTED  # declared ``field(repr=False)``: its author keeps it out of sight
        elif own is not None and name in own:
            yield name, own[name]
        elif name in slots:
            try:
                yield name, slots[name].__get__(value)
            except AttributeError:
                yield name, _NOT_READ
        else:
            yield name, _NOT_READ  # behind a property or a custom descriptor: not called


def _mapping(value: Any, code: int, extra: Any, depth: int, walk: list[Any]) -> dict[str, Any]:
    size, pairs = _pairs(value, code, extra)
    out: dict[str, Any] = {}
    for count, (key, item) in enumerate(pairs):
        if walk[0] <= 0:
            out["..."] = _marker(size - count, "more items")
            break
        walk[0] -= 1
        name = key if type(key) is str else _key(key)
        out[_name(name)] = REDACTED if redacted(name) else _safe(item, depth + 1, walk)
    return out


def _sequence(value: Any, code: int, base: Any, depth: int, walk: list[Any]) -> list[Any]:
    """Items of a list, tuple or set; in a list or tuple, an option naming a secret hides
    the item after it (``["--password", "x"]``) or its own value (``"--token=x"``)."""
    if code == _SET:
        items: Iterable[Any] = _ordered(value, base)
        size = base.__len__(value)
    else:
        items = base.__iter__(value)
        size = base.__len__(value)
    out: list[Any] = []
    argv = code != _SET
    hide_next = False
    for count, item in enumerate(items):
        if walk[0] <= 0:
            out.append(_marker(size - count, "more items"))
            break
        walk[0] -= 1
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if argv and type(item) is str and (item[:1] == "-" or "=" in item):
            how = option(item)
            if how == HIDES_VALUE:
                out.append(_text(hide_value(item)))
                continue
            hide_next = how == HIDES_NEXT
        out.append(_safe(item, depth + 1, walk))
    return out


def _key(key: object) -> str:
    """A dict key as JSON text allows: a string (``None``, numbers and tuples spelled out)."""
    kind = type(key)
    if key is None or kind is bool or kind is int or kind is float:
        return str(key)
    safe = _safe(key, 0, [8, set()])
    return safe if type(safe) is str else _text((_encode or _encoder())(safe))


def _ordered(value: Any, base: Any) -> list[Any]:
    """A set's items, sorted when they are all ``str`` or all numbers (their own ``<``)."""
    items = list(base.__iter__(value))
    if all(type(item) is str for item in items) or all(
        type(item) is int or type(item) is float for item in items
    ):
        return sorted(items)
    return items


# -- the process: process.pid, process.executable.name, process.command_args --------------------

_executable: str | None = None
_argv_key: tuple[Any, ...] = ()
_argv_value: tuple[str, ...] | None = None


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
    global _argv_key, _argv_value
    argv = getattr(sys, "argv", None)
    if type(argv) is not list:
        return None
    items = tuple(argv)
    plain = all(type(item) is str for item in items)  # only then is the cache compared safely
    key = (SETTINGS.redact, items)
    if plain and _argv_value is not None and key == _argv_key:
        return _argv_value
    walked = _sequence(argv, _LIST, list, 0, [_MAX_NODES, set()])
    out: list[str] = []
    used = 0
    for index, item in enumerate(walked):
        text = item if type(item) is str else _text((_encode or _encoder())(item))
        used += _size(text)
        if used > TOTAL_CAP - 64:
            out.append(_marker(len(walked) - index, "more args"))
            break
        out.append(text)
    value = tuple(out)
    if plain:
        _argv_key, _argv_value = key, value
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
        return _text(value)
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else _int(value)  # OTLP carries int64
    if kind is bool or kind is float:
        return value
    if (kind is list or kind is tuple) and 0 < len(value) <= _MAX_NODES:
        first = type(value[0])
        if first is int and all(type(i) is int and _INT64_MIN <= i <= _INT64_MAX for i in value):
            return list(value)
        if (first is str or first is bool or first is float) and all(type(item) is first for item in value):
            return [_text(item) for item in value] if first is str else list(value)
    text = _safe(value, 0, [_MAX_NODES, set()])
    return text if type(text) is str else _text((_encode or _encoder())(text))


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
