"""Argument capture (``cli.args``): binding, redaction, caps, and values that fight back."""

from __future__ import annotations

import enum
import json
import math
import typing
from pathlib import PurePosixPath

import click
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.core import TyperCommand

import lazyotel
from lazyotel import _capture
from lazyotel._capture import REDACTED, TOTAL_CAP, VALUE_CAP, bind, capture, outcome

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


def test_hostile_objects_still_give_a_bounded_value() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    class BadIter(list):  # type: ignore[type-arg]
        def __iter__(self) -> typing.Iterator[object]:
            raise RuntimeError("no")

    class HugeRepr:
        def __repr__(self) -> str:
            return "r" * 1_000_000

    class WeirdStr(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    got = _capture_call(everything, BadRepr(), BadIter([1]), HugeRepr(), WeirdStr("plain"))
    assert got["args"][0].endswith("BadRepr object>")
    assert got["args"][1].endswith("BadIter object>")
    assert got["args"][2] == "r" * VALUE_CAP + "...[truncated: 1000000 chars]"
    assert got["args"][3] == "plain"


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


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    pattern=st.sampled_from(lazyotel._config.DEFAULT_REDACT),
    prefix=_names,
    upper=st.booleans(),
    secret=_text,
    positional=st.booleans(),
    others=st.dictionaries(_names, _scalars, max_size=6),
    nested=st.booleans(),
)
def test_a_redacted_name_never_shows_its_value(
    pattern: str,
    prefix: str,
    upper: bool,
    secret: str,
    positional: bool,
    others: dict[str, object],
    nested: bool,
) -> None:
    name = prefix + (pattern.upper() if upper else pattern)
    value = SENTINEL + secret
    others = {k: v for k, v in others.items() if k != name}
    if nested:
        args: tuple[object, ...] = ({"outer": [{name: value}]},)
        kwargs: dict[str, object] = others
        params: _capture.Params = (("config",), "", 0)
    elif positional:
        args, kwargs, params = (value,), others, ((name,), "", 0)
    else:
        args, kwargs, params = (), {**others, name: value}, ((), "", 0)
    text = capture(params, args, kwargs, True)
    assert SENTINEL not in text
    assert REDACTED in text or "truncated" in text


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
