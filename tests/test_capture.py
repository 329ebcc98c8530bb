"""Argument capture (``cli.args``): binding, redaction, caps, and values that fight back."""

from __future__ import annotations

import argparse
import collections
import collections.abc
import dataclasses
import datetime
import decimal
import enum
import fractions
import ipaddress
import json
import math
import pathlib
import sys
import types
import typing
import uuid
from pathlib import PurePosixPath

import click
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.core import TyperCommand

import lazyotel
from lazyotel import _capture, _redact
from lazyotel._capture import REDACTED, TOTAL_CAP, VALUE_CAP, capture
from lazyotel._command import bind
from lazyotel._outcome import outcome

#: The longest truncation marker capture appends to one value.
MARKER_ROOM = 48


def _capture_call(
    fn: typing.Callable[..., object], *args: object, skip: int = 0, spec: object = True, **kwargs: object
) -> dict[str, typing.Any]:
    text = capture(bind(fn, skip), args, kwargs, spec)
    assert _size(text) <= TOTAL_CAP
    return json.loads(text)  # type: ignore[no-any-return]


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


class Color(enum.Enum):
    RED = "red"


def everything(name, count=1, *rest, **extra):  # type: ignore[no-untyped-def]
    pass


def test_plain_values_are_recorded_as_json() -> None:
    got = _capture_call(
        everything,
        "x",
        2,
        3.5,
        None,
        flag=True,
        path=PurePosixPath("/tmp/a b"),
        color=Color.RED,
        items=("a", 1),
        table={"k": [1, 2]},
        unique=frozenset({3, 1, 2}),
        data=b"\x00\xff",
    )
    assert got == {
        "args": ["x", 2, 3.5, None],
        "kwargs": {
            "flag": True,
            "path": "/tmp/a b",
            "color": "red",
            "items": ["a", 1],
            "table": {"k": [1, 2]},
            "unique": [1, 2, 3],
            "data": "b'\\x00\\xff'",
        },
    }


def test_non_finite_floats_and_huge_ints_stay_valid_json() -> None:
    got = _capture_call(everything, math.nan, math.inf, 10**30, 10**5000)
    assert got["args"][:3] == ["nan", "inf", str(10**30)]
    assert got["args"][3].startswith("<int of ") or got["args"][3].endswith("chars]")


def test_redaction_by_parameter_name_positional_varargs_and_extra() -> None:
    def login(user, password, *tokens, **extra):  # type: ignore[no-untyped-def]
        pass

    got = _capture_call(login, "ann", "hunter2", "t1", "t2", Session_Id="abc", retries=3)
    assert got == {
        "args": ["ann", REDACTED, REDACTED, REDACTED],
        "kwargs": {"Session_Id": REDACTED, "retries": 3},
    }


def test_redaction_of_dict_keys_inside_values() -> None:
    config = {"name": "db", "auth": {"user": "u"}, "nested": [{"API_KEY": "k", "ok": 1}]}
    got = _capture_call(everything, config)
    assert got["args"] == [{"name": "db", "auth": REDACTED, "nested": [{"API_KEY": REDACTED, "ok": 1}]}]


def test_redact_patterns_come_from_bootstrap() -> None:
    lazyotel.bootstrap(redact=["pin"])
    got = _capture_call(everything, pin_code="1234", password="visible now")
    assert got["kwargs"] == {"pin_code": REDACTED, "password": "visible now"}


def test_method_self_and_framework_contexts_are_left_out() -> None:
    class Tool:
        def run(self, ctx, target):  # type: ignore[no-untyped-def]
            pass

    click_ctx = click.Context(click.Command("x"))
    typer_ctx = typer.Context(TyperCommand("y"))
    got = _capture_call(Tool.run, Tool(), click_ctx, "prod", skip=1, other=typer_ctx)
    assert got == {"args": ["prod"], "kwargs": {}}


def test_capture_filter_decides_per_argument() -> None:
    seen = []

    def keep(name: str, value: object) -> bool:
        seen.append((name, value))
        return name != "count"

    got = _capture_call(everything, "n", 2, 3, spec=keep, extra=4)
    assert got == {"args": ["n", 3], "kwargs": {"extra": 4}}
    assert seen == [("name", "n"), ("count", 2), ("rest", 3), ("extra", 4)]


def test_long_values_are_cut_with_a_visible_marker() -> None:
    got = _capture_call(everything, "a" * 10_000, list(range(5_000)), b"x" * 50_000_000)
    text, numbers, data = got["args"]
    assert text == "a" * VALUE_CAP + "...[truncated: 10000 chars]"
    assert numbers.startswith("[0, 1, 2")
    assert numbers.endswith("chars]")
    assert len(numbers) <= VALUE_CAP + MARKER_ROOM
    assert data.endswith("...[truncated: 50000000 bytes]")
    assert len(data) <= VALUE_CAP + MARKER_ROOM


def test_the_whole_attribute_is_capped_with_a_marker() -> None:
    got = _capture_call(everything, *["v" * 200] * 40, **{f"k{i}": "w" * 200 for i in range(40)})
    assert got["args"][-1].startswith("...[truncated: ")
    assert got["args"][-1].endswith("more args]")
    assert list(got["kwargs"]) == ["..."]
    assert got["kwargs"]["..."] == "...[truncated: 40 more kwargs]"


def test_recursive_containers_and_deep_nesting() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    deep: list[object] = []
    for _ in range(50):
        deep = [deep]
    got = _capture_call(everything, loop, cycle, deep)
    assert got["args"][0] == [1, "<recursion>"]
    assert got["args"][1] == {"self": "<recursion>"}
    assert "[...]" in json.dumps(got["args"][2])


def test_objects_of_unknown_types_are_recorded_by_type_name_only(capsys: pytest.CaptureFixture[str]) -> None:
    """No ``__repr__`` (issue 9 item 7: one printed to stdout), however large or broken."""

    class Loud:
        def __repr__(self) -> str:
            print("repr called")
            return "loud"

    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    class HugeRepr:
        def __repr__(self) -> str:
            return "r" * 1_000_000

    class BadIter(list):  # type: ignore[type-arg]
        def __iter__(self) -> typing.Iterator[object]:
            raise RuntimeError("no")

    class WeirdStr(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    got = _capture_call(everything, Loud(), BadRepr(), HugeRepr(), BadIter([1]), WeirdStr("plain"))
    prefix = f"<{__name__}.test_objects_of_unknown_types_are_recorded_by_type_name_only.<locals>."
    assert got["args"] == [
        prefix + "Loud object>",
        prefix + "BadRepr object>",
        prefix + "HugeRepr object>",
        [1],
        "plain",
    ]
    assert capsys.readouterr() == ("", "")


def test_lone_surrogates_become_escapes() -> None:
    got = _capture_call(everything, "caf\udce9", "\ud800" * 300, naïve="été")
    assert got["args"][0] == "caf\\udce9"
    assert got["args"][1].endswith("chars]")
    assert got["kwargs"] == {"naïve": "été"}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (SystemExit(), ("exit", 0)),
        (SystemExit("message"), ("exit", 1)),
        (click.exceptions.Exit(5), ("exit", 5)),
        (typer.Exit(6), ("exit", 6)),
        (click.ClickException("x"), ("error", 1)),
        (typer.Abort(), ("abort", 1)),
        (KeyboardInterrupt(), ("interrupt", 1)),
        (GeneratorExit(), ("closed", 0)),
        (ValueError(), ("error", 1)),
    ],
    ids=repr,
)
def test_outcome_of_each_exception(exc: BaseException, expected: tuple[str, int]) -> None:
    assert outcome(exc) == expected


# -- properties -----------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=()), max_size=300)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
    st.binary(max_size=600),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=30),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(_text, st.integers()), inner, max_size=20),
        st.frozensets(st.integers(), max_size=30),
    ),
    max_leaves=40,
)
_names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
SENTINEL = "S3NT1N3L"


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(args=st.lists(_values, max_size=10), kwargs=st.dictionaries(_names, _values, max_size=10))
def test_any_values_give_valid_json_within_the_caps(args: list[object], kwargs: dict[str, object]) -> None:
    text = capture(((), "rest", 0), tuple(args), kwargs, True)
    assert _size(text) <= TOTAL_CAP
    got = json.loads(text)
    assert set(got) == {"args", "kwargs"}
    for value in [*got["args"], *got["kwargs"].values()]:
        if isinstance(value, str):
            assert len(value) <= VALUE_CAP + MARKER_ROOM


def _login_decorator(fn: typing.Any) -> typing.Any:
    import functools

    @functools.wraps(fn)
    def wrapper(*args: typing.Any, **kwargs: typing.Any) -> typing.Any:
        return fn(*args, **kwargs)

    return wrapper


def test_redaction_sees_through_another_decorator() -> None:
    """typer and inspect.signature follow ``__wrapped__``: so does the capture."""

    @lazyotel.trace_command
    @_login_decorator
    def login(user: str, password: str) -> None:
        pass

    with lazyotel.testing.capture_spans() as spans:
        login("bob", "hunter2")
    assert json.loads(spans.attributes("cli.login")["cli.args"]) == {"args": ["bob", REDACTED], "kwargs": {}}


def test_a_key_that_is_not_valid_utf8_keeps_the_rest_of_the_capture() -> None:
    def files(names: dict[str, int], verbose: bool = False) -> None:
        pass

    text = capture(bind(files, 0), ({"caf\udce9.txt": 1},), {"verbose": True}, True)
    decoded = json.loads(text)
    assert decoded["kwargs"] == {"verbose": True}
    assert len(decoded["args"][0]) == 1
    text.encode("utf-8")  # the attribute is valid UTF-8


def test_an_operation_id_beyond_int64_becomes_text() -> None:
    @lazyotel.trace_command
    def submit() -> dict[str, int]:
        return {"operation_id": 2**64}

    with lazyotel.testing.capture_spans() as spans:
        submit()
    assert spans.attributes("cli.submit")["operation.id"] == str(2**64)


# -- redaction by name parts (issue 9 item 13) -----------------------------------------------------

#: Names the default patterns hide: separators, case styles, plurals, multi-word patterns as
#: consecutive words, glued words ending in a long pattern word.
# fmt: off
HIDDEN_NAMES = [
    "password", "PASSWORD", "db_password", "dbPassword", "DBPassword", "new-password", "dbpassword",
    "passwords", "passwd", "passphrase", "secret", "client_secret", "clientSecret", "CLIENT.SECRET",
    "clientsecret", "token", "auth_token", "x-auth-token", "accessToken", "accesstoken", "refresh_tokens",
    "api_key", "api-key", "apiKey", "APIKey", "API_KEYS", "x-api-key", "X-Api-Key", "x_api_key", "apikey",
    "x-apikey", "private_key", "private-key", "privateKey", "PRIVATE KEY", "aws_secret_access_key",
    "aws_access_key_id", "auth", "basic_auth", "Authorization", "proxy-authorization", "credential",
    "credentials", "cookie", "Set-Cookie", "session", "Session_Id", "sessionId", "user session",
]
# fmt: on
#: Names they leave alone: a pattern word inside a longer word, a quantity about a secret,
#: words that merely sit next to a pattern's words.
# fmt: off
VISIBLE_NAMES = [
    "author", "authors", "authority", "tokenizer", "tokenizers", "session_count", "sessionCount",
    "max_tokens", "num_tokens", "token_limit", "password_min_length", "token_type", "key", "keys",
    "primary_key", "sort_key", "api", "api_url", "private", "secretary", "passage", "user", "username",
    "cookbook", "monkey", "pin", "key_api", "private_api", "sessions_max",
]
# fmt: on


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_default_patterns_hide(name: str) -> None:
    got = _capture_call(everything, **{name: "S3CR3T"})
    assert got["kwargs"] == {name: REDACTED}
    nested = _capture_call(everything, {"outer": [{name: "S3CR3T"}]})
    assert nested["args"] == [{"outer": [{name: REDACTED}]}]


@pytest.mark.parametrize("name", VISIBLE_NAMES)
def test_default_patterns_leave_visible(name: str) -> None:
    got = _capture_call(everything, **{name: "value"})
    assert got["kwargs"] == {name: "value"}
    nested = _capture_call(everything, {"outer": [{name: "value"}]})
    assert nested["args"] == [{"outer": [{name: "value"}]}]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("x_api_key", ("x", "api", "key")),
        ("X-Api-Key", ("x", "api", "key")),
        ("xApiKey", ("x", "api", "key")),
        ("XAPIKey", ("xapi", "key")),
        ("APIKey", ("api", "key")),
        ("OAuth2Token", ("o", "auth2", "token")),
        ("db.password  hash", ("db", "password", "hash")),
        ("__private__", ("private",)),
        ("", ()),
    ],
)
def test_names_split_into_parts(name: str, parts: tuple[str, ...]) -> None:
    assert _redact.name_parts(name) == parts


def test_user_patterns_are_matched_the_same_way() -> None:
    lazyotel.bootstrap(redact=["pin", "x-signing-key", "accountNumber"])
    got = _capture_call(
        everything,
        account_number="123",
        AccountNumbers="456",
        pin_code="1234",
        PIN="5678",
        spin="visible",
        signingKey="visible: one word of the pattern missing",
        xSigningKey="k1",
        X_SIGNING_KEYS="k2",
        password="visible now",
    )
    assert got["kwargs"] == {
        "account_number": REDACTED,
        "AccountNumbers": REDACTED,
        "pin_code": REDACTED,
        "PIN": REDACTED,
        "spin": "visible",
        "signingKey": "visible: one word of the pattern missing",
        "xSigningKey": REDACTED,
        "X_SIGNING_KEYS": REDACTED,
        "password": "visible now",
    }


def test_argv_style_options_hide_their_values() -> None:
    argv = [
        "deploy",
        "--password",
        "hunter2",
        "--token=abc",
        "--api-key",
        "--looks-like-an-option",
        "DB_PASSWORD=pw",
        "-p",
        "8080",
        "--tokenizer",
        "bert",
        "--port=1",
        "--session-count",
        "3",
        "--verbose",
    ]
    got = _capture_call(everything, argv, tuple(argv))
    expected = [
        "deploy",
        "--password",
        REDACTED,
        f"--token={REDACTED}",
        "--api-key",
        REDACTED,
        f"DB_PASSWORD={REDACTED}",
        "-p",
        "8080",
        "--tokenizer",
        "bert",
        "--port=1",
        "--session-count",
        "3",
        "--verbose",
    ]
    assert got["args"] == [expected, expected]


def test_argv_style_varargs_hide_their_values() -> None:
    def run(tool: str, *argv: str) -> None:
        pass

    got = _capture_call(run, "git", "push", "--token", "abc", "--force", "-secret=x", "a=b")
    assert got["args"] == ["git", "push", "--token", REDACTED, "--force", f"-secret={REDACTED}", "a=b"]


def test_an_option_at_the_end_or_in_a_set_hides_nothing_else() -> None:
    got = _capture_call(everything, ["x", "--password"], {"--password", "x"})
    assert got["args"] == [["x", "--password"], ["--password", "x"]]


@dataclasses.dataclass
class Login:
    user: str
    password: str
    api_key: str = "k"
    hint: str = dataclasses.field(default="h", repr=False)
    limit: typing.ClassVar[int] = 3


class Endpoint(typing.NamedTuple):
    url: str
    token: str


@dataclasses.dataclass
class Marker:
    __slots__ = ()


def test_dataclass_and_namedtuple_fields_are_walked_as_mappings() -> None:
    got = _capture_call(everything, Login("ann", "hunter2"), Endpoint("http://h", "abc"), [Marker()])
    assert got["args"] == [
        {"user": "ann", "password": REDACTED, "api_key": REDACTED, "hint": REDACTED},
        {"url": "http://h", "token": REDACTED},
        [{}],
    ]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="dataclass(slots=True) is Python 3.10+")
def test_slotted_dataclass_fields_are_read_from_their_slots() -> None:
    @dataclasses.dataclass(slots=True)  # type: ignore[call-overload,misc,unused-ignore]
    class Creds:
        user: str
        secret: str
        late: int = dataclasses.field(init=False)

    got = _capture_call(everything, Creds("ann", "s3cr3t"))
    assert got["args"] == [{"user": "ann", "secret": REDACTED, "late": "<not read>"}]


def test_namespaces_are_walked_and_known_library_types_spelled_out() -> None:
    ns = argparse.Namespace(user="ann", token="abc", when=datetime.date(2026, 11, 29))
    values = (
        ns,
        types.SimpleNamespace(cookie="c", n=1),
        datetime.datetime(2026, 11, 29, 22, 5, tzinfo=datetime.timezone.utc),
        datetime.timedelta(seconds=90),
        decimal.Decimal("1.10"),
        fractions.Fraction(1, 3),
        uuid.UUID(int=1),
        ipaddress.ip_address("127.0.0.1"),
        complex(1, 2),
        range(3),
        pathlib.Path("/tmp/x"),
    )
    got = _capture_call(everything, *values)
    assert got["args"] == [
        {"user": "ann", "token": REDACTED, "when": "2026-11-29"},
        {"cookie": REDACTED, "n": 1},
        "2026-11-29T22:05:00+00:00",
        "0:01:30",
        "1.10",
        "1/3",
        "00000000-0000-0000-0000-000000000001",
        "127.0.0.1",
        "(1+2j)",
        "range(0, 3)",
        "/tmp/x",
    ]


def test_subclasses_of_library_types_are_unknown_types() -> None:
    class MyDate(datetime.date):
        def isoformat(self) -> str:
            raise AssertionError("called")

    class MyPath(type(pathlib.PurePosixPath())):  # type: ignore[misc]
        def __fspath__(self) -> str:
            raise AssertionError("called")

        def __str__(self) -> str:
            raise AssertionError("called")

    got = _capture_call(everything, MyDate(2026, 1, 1), MyPath("/x"))
    assert [value.rsplit(".", 1)[-1] for value in got["args"]] == ["MyDate object>", "MyPath object>"]


# -- capture runs no code of the values' types ---------------------------------------------------

CALLS: list[str] = []
ARMED = [False]


def _trap(name: str) -> typing.Callable[..., typing.Any]:
    def method(self: object, *args: object, **kwargs: object) -> typing.Any:
        if ARMED[0]:
            CALLS.append(name)
        if name == "__getattr__":  # what Python's own machinery expects of a missing attribute
            raise AttributeError(args[0] if args else name)
        raise RuntimeError(f"{name} called")

    return method


def _hash_trap(self: object) -> int:
    if ARMED[0]:
        CALLS.append("__hash__")
    return id(self)  # no collisions: building a test value never compares keys


# fmt: off
_TRAPPED = (
    "__repr__", "__str__", "__format__", "__iter__", "__len__", "__getitem__", "__contains__", "__eq__",
    "__lt__", "__bool__", "__fspath__", "__index__", "__int__", "__float__", "__bytes__", "__reversed__",
    "items", "keys", "values", "get", "isoformat", "_asdict", "__getattr__", "__round__", "__abs__",
)
# fmt: on


def _methods(extra: typing.Iterable[str] = ()) -> dict[str, typing.Any]:
    methods = {name: _trap(name) for name in (*_TRAPPED, *extra)}
    methods["__hash__"] = _hash_trap
    return methods


class TrapMeta(type):
    """Even the class of a value may not be asked anything through attribute access."""

    def __getattribute__(cls, name: str) -> typing.Any:
        if ARMED[0]:
            CALLS.append(f"meta.{name}")
        return super().__getattribute__(name)

    def __eq__(cls, other: object) -> bool:
        if ARMED[0]:
            CALLS.append("meta.__eq__")
        return cls is other

    def __hash__(cls) -> int:
        if ARMED[0]:
            CALLS.append("meta.__hash__")
        return id(cls)

    def __instancecheck__(cls, instance: object) -> bool:
        if ARMED[0]:
            CALLS.append("meta.__instancecheck__")
        return super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass: type) -> bool:
        if ARMED[0]:
            CALLS.append("meta.__subclasscheck__")
        return super().__subclasscheck__(subclass)


def _getattribute_trap(self: object, name: str) -> typing.Any:
    if ARMED[0]:
        CALLS.append(f"__getattribute__({name})")
    return object.__getattribute__(self, name)


class _ClassProperty:
    @property
    def __class__(self) -> type:  # type: ignore[override]
        if ARMED[0]:
            CALLS.append("__class__")
        return dict


PlainTrap = type("PlainTrap", (), _methods())
GetattributeTrap = type("GetattributeTrap", (), {**_methods(), "__getattribute__": _getattribute_trap})
MetaTrap = TrapMeta("MetaTrap", (), _methods())
ClassPropertyTrap = type("ClassPropertyTrap", (_ClassProperty,), _methods())
StrTrap = type("StrTrap", (str,), _methods(("isascii", "encode", "lower", "split")))
IntTrap = type("IntTrap", (int,), _methods(("bit_length",)))
FloatTrap = type("FloatTrap", (float,), _methods(("__sub__",)))
BytesTrap = type("BytesTrap", (bytes,), _methods())
ListTrap = type("ListTrap", (list,), _methods(("copy",)))
TupleTrap = type("TupleTrap", (tuple,), _methods())
DictTrap = type("DictTrap", (dict,), _methods(("copy",)))
SetTrap = type("SetTrap", (frozenset,), _methods())
MappingTrap = type("MappingTrap", (collections.abc.Mapping,), _methods())
MetaDictTrap = TrapMeta("MetaDictTrap", (dict,), {})
NamedTrap = type(
    "NamedTrap", (collections.namedtuple("NamedBase", ["password", "name"]),), _methods(("__getnewargs__",))
)


@dataclasses.dataclass
class DataTrap:
    token: object
    name: object

    @property
    def computed(self) -> object:
        CALLS.append("property")
        return None

    __getattr__ = _trap("__getattr__")
    __getattribute__ = _getattribute_trap  # type: ignore[assignment]
    __repr__ = _trap("__repr__")  # type: ignore[assignment]


@dataclasses.dataclass
class PropertyData:
    """A dataclass whose field is served by a property: the property is never called."""

    name: str = "n"


PropertyData.name = property(_trap("property name"))  # type: ignore[assignment,method-assign]


def _property_data() -> PropertyData:
    return object.__new__(PropertyData)  # no __init__: the property has no setter


class ColorTrap(enum.Enum):
    RED = 1

    __repr__ = _trap("__repr__")  # type: ignore[assignment]
    __str__ = _trap("__str__")  # type: ignore[assignment]
    __getattr__ = _trap("__getattr__")  # type: ignore[assignment]


def _leaf_traps(child: object) -> st.SearchStrategy[object]:
    return st.sampled_from(
        [
            PlainTrap,
            GetattributeTrap,
            MetaTrap,
            ClassPropertyTrap,
            lambda: StrTrap("s" * 300),
            lambda: StrTrap("--password"),
            lambda: IntTrap(10**20),
            lambda: FloatTrap(1.5),
            lambda: BytesTrap(b"x" * 10),
            MappingTrap,
            lambda: ColorTrap.RED,
            _property_data,
            lambda: DataTrap(child, PlainTrap()),
            lambda: NamedTrap(child, child),
            lambda: ListTrap([child, "--token", child]),
            lambda: TupleTrap((child, PlainTrap())),
            lambda: DictTrap({PlainTrap(): child, StrTrap("password"): child, "k": child}),
            lambda: MetaDictTrap(a=child),
            lambda: SetTrap({PlainTrap(), PlainTrap(), 3}),
            lambda: memoryview(b"abc"),
            lambda: MetaTrap,  # a class as a value: its metaclass is not asked either
        ]
    ).map(lambda make: make())


_hostile = st.recursive(
    st.one_of(_scalars, _leaf_traps(None)),
    lambda inner: st.one_of(
        inner.flatmap(_leaf_traps),
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(_text, st.integers()), inner, max_size=6),
    ),
    max_leaves=25,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(args=st.lists(_hostile, max_size=6), kwargs=st.dictionaries(_names, _hostile, max_size=6))
def test_capture_never_runs_code_of_the_values(args: list[object], kwargs: dict[str, object]) -> None:
    """Never raises, never calls a method, property or metaclass hook of a value's type, and
    stays valid JSON within the caps."""
    CALLS.clear()
    ARMED[0] = True
    try:
        text = capture(((), "rest", 0), tuple(args), kwargs, True)
        process = _capture.command_args()
    finally:
        ARMED[0] = False
    assert CALLS == []
    assert text != _capture._FALLBACK  # nothing inside raised either
    assert _size(text) <= TOTAL_CAP
    got = json.loads(text)
    assert set(got) == {"args", "kwargs"}
    assert len(got["args"]) == len(args)
    assert process is not None


def test_each_trap_is_recorded_safely() -> None:
    """The traps themselves, one by one, and what each is recorded as."""
    values = {
        "plain": PlainTrap(),
        "meta": MetaTrap(),
        "class_property": ClassPropertyTrap(),
        "str": StrTrap("text"),
        "int": IntTrap(7),
        "float": FloatTrap(1.5),
        "bytes": BytesTrap(b"ab"),
        "list": ListTrap([1, "--password", "x"]),
        "tuple": TupleTrap((1, 2)),
        "dict": DictTrap({"a": 1, "secret": 2}),
        "set": SetTrap({2, 1}),
        "mapping": MappingTrap(),
        "enum": ColorTrap.RED,
        "data": DataTrap("t", "n"),
        "named": NamedTrap("p", "n"),
        "property_field": _property_data(),
    }
    CALLS.clear()
    ARMED[0] = True
    try:
        got = json.loads(capture(((), "", 0), (), values, True))["kwargs"]
    finally:
        ARMED[0] = False
    assert CALLS == []
    assert got["plain"].endswith(".PlainTrap object>")
    assert got["meta"].endswith(".MetaTrap object>")
    assert got["class_property"].endswith(".ClassPropertyTrap object>")
    assert got["mapping"].endswith(".MappingTrap object>")
    assert (got["str"], got["int"], got["float"], got["bytes"]) == ("text", 7, 1.5, "b'ab'")
    assert (got["list"], got["tuple"], got["dict"], got["set"]) == (
        [1, "--password", REDACTED],
        [1, 2],
        {"a": 1, "secret": REDACTED},
        [1, 2],
    )
    assert got["enum"] == 1
    assert got["data"] == {"token": REDACTED, "name": "n"}
    assert got["named"] == {"password": REDACTED, "name": "n"}
    assert got["property_field"] == {"name": "<not read>"}


# -- properties of redaction ----------------------------------------------------------------------

_NEUTRAL = ["user", "db", "main", "new", "old", "my", "aws", "service", "primary", "remote", "x", "http"]
_STYLES = ["snake", "kebab", "dot", "space", "camel", "pascal", "upper"]


def _join(parts: list[str], style: str) -> str:
    if style == "camel":
        return parts[0] + "".join(part.capitalize() for part in parts[1:])
    if style == "pascal":
        return "".join(part.capitalize() for part in parts)
    separator = {"snake": "_", "kebab": "-", "dot": ".", "space": " ", "upper": "_"}[style]
    joined = separator.join(parts)
    return joined.upper() if style == "upper" else joined


_where = st.sampled_from(["kwarg", "positional", "nested", "dataclass", "argv", "argv_value", "varargs"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    pattern=st.sampled_from(lazyotel._config.DEFAULT_REDACT),
    before=st.lists(st.sampled_from(_NEUTRAL), max_size=2),
    after=st.lists(st.sampled_from(_NEUTRAL), max_size=2),
    style=st.sampled_from(_STYLES),
    plural=st.booleans(),
    secret=_text,
    where=_where,
)
def test_a_name_with_a_pattern_among_its_parts_never_shows_its_value(
    pattern: str, before: list[str], after: list[str], style: str, plural: bool, secret: str, where: str
) -> None:
    words = list(_redact.name_parts(pattern))
    if plural:
        words[-1] += "s"
    name = _join([*before, *words, *after], style)
    assert _redact.redacted(name), name
    text = _capture_with(name, SENTINEL + secret, where)
    assert SENTINEL not in text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    parts=st.lists(st.sampled_from(_NEUTRAL), min_size=1, max_size=4),
    style=st.sampled_from(_STYLES),
    where=_where,
)
def test_a_name_of_other_words_shows_its_value(parts: list[str], style: str, where: str) -> None:
    name = _join(parts, style)
    assert not _redact.redacted(name), name
    text = _capture_with(name, SENTINEL, where)
    assert SENTINEL in text


def _capture_with(name: str, value: str, where: str) -> str:
    option = name.replace(" ", "-")
    if where == "kwarg":
        return capture(((), "", 0), (), {name: value}, True)
    if where == "positional":
        return capture(((name,), "", 0), (value,), {}, True)
    if where == "nested":
        return capture(((), "", 0), ({"outer": [{name: value}]},), {}, True)
    if where == "dataclass":
        klass = dataclasses.make_dataclass("Made", [(name, str)]) if name.isidentifier() else None
        if klass is None:
            return capture(((), "", 0), ({name: value},), {}, True)
        return capture(((), "", 0), (klass(value),), {}, True)
    if where == "argv":
        return capture(((), "", 0), (["cmd", f"--{option}", value, "--next"],), {}, True)
    if where == "argv_value":
        return capture(((), "", 0), ((f"--{option}={value}",),), {}, True)
    return capture(((), "rest", 0), ("cmd", f"--{option}", value), {}, True)


@pytest.mark.parametrize("pattern", ["--", "_", " . "])
def test_a_pattern_without_a_word_is_refused_at_bootstrap(pattern: str) -> None:
    with pytest.raises(ValueError, match="must contain a letter or a digit") as info:
        lazyotel.bootstrap(redact=["password", pattern])
    assert f"redact={pattern!r}" in str(info.value)
    assert lazyotel._config.SETTINGS.redact == lazyotel._config.DEFAULT_REDACT
