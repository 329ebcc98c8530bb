"""JSON-ready copies of argument values that run no code of the values' types.

Used by ``_capture`` for ``cli.args`` and ``process.command_args``; imported on the active path
only. A type is looked at only through its own namespace (``type.__dict__`` descriptors, never
attribute access), and values are read with the built-in base type's own methods
(``dict.items(value)``, ``str.__str__(value)``...), so no ``__repr__``, ``__str__``,
``__iter__``, ``__len__``, ``__eq__``, ``__hash__``, ``__fspath__``, property, descriptor or
metaclass hook of an argument's type ever runs. What is recorded:

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
  or click ``Context``: ``"<Context>"`` (``_capture`` leaves one out at the top level).

Each value keeps at most ``VALUE_CAP`` characters, ``MAX_NODES`` container items and
``_MAX_DEPTH`` levels, with visible ``...[truncated: ...]`` markers.
"""

from __future__ import annotations

import sys
from enum import Enum

from ._redact import HIDES_NEXT, HIDES_VALUE, REDACTED, hide_value, option, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

#: Characters kept of one value before the truncation marker.
VALUE_CAP = 256

_MAX_DEPTH = 6  # nesting kept inside one value
#: Container items visited for one value (each costs at least 2 characters).
MAX_NODES = 128
#: Larger ints become strings: JSON readers lose their precision.
BIG = 1 << 53
_NO_WALK: list[Any] = [0, frozenset()]
_NOT_READ = "<not read>"
# ``id`` of the exact scalar types: a membership test that hashes an int, never the type
# (a metaclass may define ``__eq__``/``__hash__``).
SCALAR_IDS = frozenset(map(id, (str, int, float, bool, type(None))))

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


def encoder() -> Callable[[object], str]:
    """The JSON encoder of ``cli.args`` (made on first use; ``json`` is not imported)."""
    global _encode
    if _encode is None:
        from . import _jsonenc

        # ensure_ascii=False keeps non-ASCII readable; strings are made UTF-8-safe first.
        _encode = _jsonenc.encoder(ensure_ascii=False, allow_nan=False)
    return _encode


def type_name(kind: type) -> str:
    """``module.QualName`` of a class (``QualName`` for built-ins), read without running its code."""
    try:
        qualname = _QUALNAME(kind)
        module = _MODULE(kind)
    except Exception:  # noqa: BLE001 - not a class after all
        return "object"
    qualname = str.__str__(qualname)  # a str subclass set as ``__qualname__``: its methods not run
    if type(module) is not str or module == "builtins":
        return qualname
    return module + "." + qualname


def type_label(kind: type) -> str:
    return bounded_text(f"<{type_name(kind)} object>")


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
    if any(_is_context_class(klass) for klass in mro):
        return _CONTEXT, None
    if issubclass(kind, Enum):  # ``type.__subclasscheck__``: a walk of the MRO, no user code
        return _ENUM, _own(mro, "__dict__")
    fields = _own(mro, "__dataclass_fields__")
    if fields is not None:
        return _dataclass(mro, fields)
    return _builtin_base(kind, mro) or _known_type(kind) or (_UNKNOWN, None)


def _is_context_class(klass: type) -> bool:
    name, module = _NAME(klass), _MODULE(klass)
    if type(name) is not str or name != "Context" or type(module) is not str:
        return False
    return module.split(".")[0] in ("click", "typer")


def _builtin_base(kind: type, mro: tuple[type, ...]) -> tuple[int, Any] | None:
    for base, code in _BASES:
        if issubclass(kind, base):
            return code, base
    if not issubclass(kind, tuple):
        return None
    names = _own(mro, "_fields")
    if type(names) is tuple and all(type(name) is str for name in names):
        return _FIELDS, (True, names, (), None, {})  # a named tuple: values read as a tuple
    return _TUPLE, tuple


def _known_type(kind: type) -> tuple[int, Any] | None:
    for module_name, names, how in _KNOWN_TYPES:
        module = sys.modules.get(module_name)
        if module is not None and any(getattr(module, name, None) is kind for name in names):
            return _KNOWN, how
    for module_name, name in _NAMESPACE_TYPES:
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, name, None) is kind:
            return _NAMESPACE_KIND, None
    return None


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
    return _FIELDS, (False, tuple(names), tuple(hidden), _own(mro, "__dict__"), slots)


def is_context(value: object) -> bool:
    """A click or typer ``Context`` (typer >= 0.16 vendors click), without importing either."""
    return _kind_of(type(value))[0] == _CONTEXT


def key_text(name: str) -> str:
    """A key as it may be encoded: short ASCII as is, anything else bounded and made valid."""
    return name if len(name) <= VALUE_CAP and name.isascii() else bounded_text(name)


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def truncated(count: int, unit: str) -> str:
    return f"...[truncated: {count} {unit}]"


def argument_value(value: object) -> Any:
    """One argument as a JSON-ready value within ``VALUE_CAP`` characters."""
    try:
        if id(type(value)) in SCALAR_IDS:
            return json_ready(value, 0, _NO_WALK)  # the common case: no container to walk
        safe = json_ready(value, 0, [MAX_NODES, set()])
        if type(safe) is list or type(safe) is dict:
            text = (_encode or encoder())(safe)
            if len(text) > VALUE_CAP:
                return bounded_text(text)
        return safe
    except Exception:  # noqa: BLE001 - e.g. a released memoryview
        return type_label(type(value))


def bounded_text(text: str) -> str:
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
        return head + truncated(size, "chars")
    return head


def _bytes(value: Any, base: Any) -> str:
    if base is memoryview:
        size, head = value.nbytes, bytes(value[:VALUE_CAP])
    else:  # the base type's own methods: a subclass's overrides are not called
        size, head = base.__len__(value), bytes(base.__getitem__(value, slice(0, VALUE_CAP)))
    text = repr(head)[:VALUE_CAP]
    return text + truncated(size, "bytes") if size > VALUE_CAP or len(text) >= VALUE_CAP else text


def int_value(value: int) -> int | str:
    if -BIG < value < BIG:
        return value
    try:
        return bounded_text(str(value))
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"<int of {value.bit_length()} bits>"


def _instance_dict(value: object, descriptor: Any) -> dict[str, Any] | None:
    """``value.__dict__`` through the class's own ``__dict__`` descriptor, if it is the usual one."""
    if type(descriptor) is not _GETSET:
        return None
    found = descriptor.__get__(value)
    return found if type(found) is dict else None


def json_ready(value: Any, depth: int, walk: list[Any]) -> Any:
    """A JSON-ready copy of ``value``: bounded in depth, items and characters."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= VALUE_CAP and value.isascii() else bounded_text(value)
    if value is None or kind is bool or (kind is float and value - value == 0):  # nan, inf: not JSON
        return value
    if kind is int:
        return int_value(value)
    code, extra = _kind_of(kind)
    if code >= _DICT:
        return _container(value, code, extra, depth, walk)
    read = _READERS.get(code)
    return type_label(kind) if read is None else read(value, extra, depth, walk)


def _finite(value: float) -> float | str:
    return value if value - value == 0 else repr(value)


def _enum(value: Any, extra: Any, depth: int, walk: list[Any]) -> Any:
    members = _instance_dict(value, extra)
    if members is None or "_value_" not in members:
        return type_label(type(value))
    if depth < _MAX_DEPTH:
        return json_ready(members["_value_"], depth + 1, walk)
    name = members.get("_name_")
    return bounded_text(name) if type(name) is str else type_label(type(value))


def _known(value: Any, how: Any) -> str:
    text = value.isoformat() if how == "isoformat" else repr(value) if how == "repr" else str(value)
    return bounded_text(text)


def _container(value: Any, code: int, extra: Any, depth: int, walk: list[Any]) -> Any:
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


#: How ``json_ready`` reads a value of each kind that is not a container. Subclasses of
#: ``str``/``int``/``float`` are read as the base type: their own methods may do anything.
_READERS: dict[int, Callable[[Any, Any, int, list[Any]], Any]] = {
    _STR: lambda value, extra, depth, walk: bounded_text(str.__str__(value)),
    _INT: lambda value, extra, depth, walk: int_value(int.__int__(value)),
    _FLOAT: lambda value, extra, depth, walk: _finite(float.__float__(value)),
    _BYTES: lambda value, extra, depth, walk: _bytes(value, extra),
    _ENUM: _enum,
    _KNOWN: lambda value, extra, depth, walk: _known(value, extra),
    _CONTEXT: lambda value, extra, depth, walk: "<Context>",
}


def _pairs(value: Any, code: int, extra: Any) -> tuple[int, Iterable[tuple[Any, Any]]]:
    """(how many, the (key, value) pairs) of a mapping-like value, read without its code."""
    if code == _DICT:
        return dict.__len__(value), dict.items(value)
    if code == _NAMESPACE_KIND:  # exactly argparse.Namespace or types.SimpleNamespace
        attributes = vars(value)
        return len(attributes), attributes.items()
    named_tuple, names, hidden, descriptor, slots = extra
    if named_tuple:
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
            out["..."] = truncated(size - count, "more items")
            break
        walk[0] -= 1
        name = key if type(key) is str else _key(key)
        out[key_text(name)] = REDACTED if redacted(name) else json_ready(item, depth + 1, walk)
    return out


def _sequence(value: Any, code: int, base: Any, depth: int, walk: list[Any]) -> list[Any]:
    """Items of a list, tuple or set; in a list or tuple, an option naming a secret hides
    the item after it (``["--password", "x"]``) or its own value (``"--token=x"``)."""
    argv = code != _SET
    items: Iterable[Any] = base.__iter__(value) if argv else _ordered(value, base)
    size = base.__len__(value)
    out: list[Any] = []
    hide_next = False
    for count, item in enumerate(items):
        if walk[0] <= 0:
            out.append(truncated(size - count, "more items"))
            break
        walk[0] -= 1
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if argv and type(item) is str and (item[:1] == "-" or "=" in item):
            how = option(item)
            if how == HIDES_VALUE:
                out.append(bounded_text(hide_value(item)))
                continue
            hide_next = how == HIDES_NEXT
        out.append(json_ready(item, depth + 1, walk))
    return out


def _key(key: object) -> str:
    """A dict key as JSON text allows: a string (``None``, numbers and tuples spelled out)."""
    kind = type(key)
    if key is None or kind is bool or kind is int or kind is float:
        return str(key)
    safe = json_ready(key, 0, [8, set()])
    return safe if type(safe) is str else bounded_text((_encode or encoder())(safe))


def _ordered(value: Any, base: Any) -> list[Any]:
    """A set's items, sorted when they are all ``str`` or all numbers (their own ``<``)."""
    items = list(base.__iter__(value))
    if all(type(item) is str for item in items) or all(
        type(item) is int or type(item) is float for item in items
    ):
        return sorted(items)
    return items


def argv_items(argv: list[Any]) -> list[Any]:
    """A list's items as ``cli.args`` records them (argv-style options hide their values)."""
    return _sequence(argv, _LIST, list, 0, [MAX_NODES, set()])
