"""``lazyotel._w3c`` against the OpenTelemetry API's ``TraceContextTextMapPropagator``.

Differential: hypothesis builds ``traceparent``/``tracestate`` strings around the edges of the
grammar (near-valid hex, wrong lengths, versions, separators, white space, zero ids, 32 members
and 8192 characters, invalid keys and values, duplicate keys, ``tenant@system`` keys), and
``parse_traceparent`` must give what the installed API extracts; ``format_*`` must write what the
API injects. The examples pin the API's surprising choices by name.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _child import child_env
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from lazyotel import _w3c
from lazyotel._lite import ApiTraits

PROPAGATOR = TraceContextTextMapPropagator()
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEX = "0123456789abcdef"
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
VALID = f"00-{TRACE}-{SPAN}-01"
#: characters that trip a careless parser: upper case, int()'s "+", "_", "x" and white space,
#: non-ASCII digits, the separators
TRICKY = "ABCDEFGxX+-_ \t\n\r\x0b\x00=,@/*\u0663\u00e9\u00a0"
VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ",=")


def api_parse(
    traceparent: str | None, tracestate: str | None
) -> tuple[int, int, int, list[tuple[str, str]] | None] | None:
    """What the API extracts, as the tuple ``parse_traceparent`` returns."""
    extracted = PROPAGATOR.extract({"traceparent": traceparent, "tracestate": tracestate})
    ctx = trace.get_current_span(extracted).get_span_context()
    if not ctx.is_valid:
        return None
    return ctx.trace_id, ctx.span_id, int(ctx.trace_flags), list(ctx.trace_state.items()) or None


def api_inject(trace_id: int, span_id: int, flags: int, entries: list[tuple[str, str]]) -> dict[str, str]:
    ctx = SpanContext(trace_id, span_id, True, TraceFlags(flags), TraceState(entries))
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, trace.set_span_in_context(NonRecordingSpan(ctx)))
    return carrier


# lazyotel parses TRACEPARENT with _w3c only where the installed API reads a tracestate by the
# rules it implements (1.45); with an older API the API's own propagator does (tests/test_lite.py).
pytestmark = pytest.mark.skipif(
    not ApiTraits.get()[1], reason="this opentelemetry-api reads tracestate by older rules: _w3c is not used"
)


@pytest.fixture(autouse=True)
def _quiet_api(caplog: pytest.LogCaptureFixture) -> None:
    """The API warns about every bad tracestate: not what these tests look at."""
    caplog.set_level("CRITICAL", logger="opentelemetry")


# -- traceparent ----------------------------------------------------------------------------------


def spoilt(n: int) -> st.SearchStrategy[str]:
    """A field of ``n`` hex digits that is almost right: zero, upper case, a wrong length or character."""
    valid = st.text(HEX, min_size=n, max_size=n)
    one_off = st.tuples(valid, st.integers(0, n - 1), st.sampled_from(TRICKY)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    )
    return st.one_of(
        st.sampled_from(["0" * n, "F" * n, "0" * (n - 1), "0" * (n + 1), "1" * (n - 1), "f" * (n + 1)]),
        valid.map(str.upper),
        one_off,
        st.text(HEX + "ABCDEF", min_size=max(n - 1, 0), max_size=n + 1),
        st.sampled_from(
            ["0x" + "1" * (n - 2), "+" + "1" * (n - 1), "1_" + "1" * (n - 2), " " + "1" * (n - 1)]
        ),
    )


def nonzero(n: int) -> st.SearchStrategy[str]:
    """``n`` lower-case hex digits, not all zero (hypothesis likes zeros: they would hide the rest)."""
    edges = ["0" * (n - 1) + "1", "1" + "0" * (n - 1), "f" * n]
    return st.one_of(st.integers(1, 16**n - 1).map(lambda i: f"{i:0{n}x}"), st.sampled_from(edges))


#: each part of a traceparent: (valid values, spoilt values); "valid" trailing text after a
#: later version's flags may still spoil version 00
PARTS = {
    "leading": (
        st.sampled_from(["", "", " ", "\t", " \t "]),
        st.sampled_from(["\n", "\r", "\x0b", "\x0c", "\u00a0", "-", "0", "\n "]),
    ),
    "version": (
        st.sampled_from(["00", "00", "01", "cc", "fe"]),
        st.one_of(st.sampled_from(["ff", "FF", "0A", "0", "000", "0g", "-0"]), spoilt(2)),
    ),
    "trace_id": (nonzero(32), spoilt(32)),
    "span_id": (nonzero(16), spoilt(16)),
    "flags": (
        st.one_of(st.sampled_from(["00", "01", "ff", "fe", "02"]), st.text(HEX, min_size=2, max_size=2)),
        st.one_of(st.sampled_from(["FF", "1", "001", "-1"]), spoilt(2)),
    ),
    "trailing": (
        st.sampled_from(["", "", "", " ", "\t\t", "\n", " \n", "\t\n"]),
        st.one_of(
            st.sampled_from(
                ["\n\n", "\n ", "\r", "\r\n", "\x0b", "\x0c", "x", "0", "\x00", " \n ", "\u00a0"]
            ),
            # a fifth field: only for a later version, on one line
            st.sampled_from(
                ["-", "-x", "-extra-field", "-a b ", "-\n", "-\n\n", "-a\nb", "-a\n", " -x", "--"]
            ),
            st.text().map(lambda t: "-" + t),
            st.text(st.sampled_from("a -\t\n\r"), max_size=4).map(lambda t: "-" + t),
            st.text(max_size=5),
        ),
    ),
    **{
        f"separator{i}": (st.just("-"), st.sampled_from(["", "_", " ", "--", "\t", "=", "\n", "- ", " -"]))
        for i in range(3)
    },
}


@st.composite
def traceparents(draw: st.DrawFn) -> str:
    """A traceparent with none, one or a few of its parts spoilt."""
    count = draw(st.sampled_from([0, 1, 1, 1, 2]))
    spoil = draw(st.sets(st.sampled_from(sorted(PARTS)), min_size=count, max_size=count))
    part = {name: draw(PARTS[name][name in spoil]) for name in PARTS}
    return (
        part["leading"]
        + part["version"]
        + part["separator0"]
        + part["trace_id"]
        + part["separator1"]
        + part["span_id"]
        + part["separator2"]
        + part["flags"]
        + part["trailing"]
    )


STATES = st.sampled_from([None, "", "a=1", "a=1,b=2", "A=1", "a=1,a=2", " , "])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid traceparent after a few random edits (delete, insert, replace)."""
    text = draw(st.sampled_from([VALID, f"01-{TRACE}-{SPAN}-00", f"cc-{TRACE}-{SPAN}-ff-next"]))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(TRICKY + HEX))
        how = draw(st.sampled_from(["delete", "insert", "replace"]))
        if how == "insert":
            text = text[:at] + char + text[at:]
        else:
            text = text[:at] + (char if how == "replace" else "") + text[at + 1 :]
    return text


@SETTINGS
@given(traceparents(), STATES)
def test_traceparent_is_parsed_as_the_api_does(traceparent: str, tracestate: str | None) -> None:
    assert api_parse(traceparent, tracestate) == _w3c.parse_traceparent(traceparent, tracestate)


@SETTINGS
@given(mutated(), STATES)
def test_an_edited_traceparent_is_parsed_as_the_api_does(traceparent: str, tracestate: str | None) -> None:
    assert api_parse(traceparent, tracestate) == _w3c.parse_traceparent(traceparent, tracestate)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_any_text_is_parsed_as_the_api_does(traceparent: str | None, tracestate: str | None) -> None:
    assert api_parse(traceparent, tracestate) == _w3c.parse_traceparent(traceparent, tracestate)


EDGE_LEADING = ["", " ", "\t", " \t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u2003", "-", "\x00"]
EDGE_TRAILING = ["", " ", "\t", " \t ", "\n", " \n", "\n\n", "\n ", "\r", "\r\n", "\x0b", "\x0c", "\u00a0"]
EDGE_TRAILING += ["-", "-x", "-x ", "-\n", "-\n\n", "-a\nb", "-a\n", "-\r", " -x", "--", "x", "0", "\x00"]


def test_edge_traceparents_are_parsed_as_the_api_does() -> None:
    """Every white space and fifth-field ending, with every version kind, against the API."""
    for version in ("00", "01", "fe", "ff"):
        for leading in EDGE_LEADING:
            for trailing in EDGE_TRAILING:
                traceparent = f"{leading}{version}-{TRACE}-{SPAN}-01{trailing}"
                expected = api_parse(traceparent, "a=1")
                assert expected == _w3c.parse_traceparent(traceparent, "a=1"), repr(traceparent)


#: The API's choices that a plain reading of the W3C text would not guess, pinned by name.
SURPRISES = {
    "valid": (VALID, None, (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "spaces and tabs around": (f" \t{VALID}\t ", None, (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "one final newline": (f"{VALID}\n", None, (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "spaces then a final newline": (f"{VALID} \n", None, (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "two final newlines": (f"{VALID}\n\n", None, None),
    "a leading newline": (f"\n{VALID}", None, None),
    "upper-case hex": (VALID.upper(), None, None),
    "version 00, a dash after the flags": (f"{VALID}-", None, None),
    "version 00, a fifth field": (f"{VALID}-00", None, None),
    "a later version, a fifth field": (
        f"01-{TRACE}-{SPAN}-01-what ever",
        None,
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "a later version, a bare dash": (
        f"cc-{TRACE}-{SPAN}-01-",
        None,
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "a later version, a newline in the fifth field": (f"01-{TRACE}-{SPAN}-01-a\nb", None, None),
    "version ff": (f"ff-{TRACE}-{SPAN}-01", None, None),
    "all eight flag bits kept": (f"00-{TRACE}-{SPAN}-fe", None, (int(TRACE, 16), int(SPAN, 16), 0xFE, None)),
    "zero trace id": (f"00-{'0' * 32}-{SPAN}-01", None, None),
    "zero span id": (f"00-{TRACE}-{'0' * 16}-01", None, None),
    "empty tracestate": (VALID, " , ,", (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "tracestate kept in order, white space around members dropped": (
        VALID,
        " b=2 ,\ta@x=1\t,, c= v",
        (int(TRACE, 16), int(SPAN, 16), 1, [("b", "2"), ("a@x", "1"), ("c", " v")]),
    ),
    "one bad member drops the whole tracestate": (
        VALID,
        "a=1,B=2,c=3",
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "a duplicate key drops the whole tracestate": (
        VALID,
        "a=1,b=2,a=3",
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "33 members drop them all": (
        VALID,
        ",".join(f"k{i}=v" for i in range(33)),
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "32 members are kept": (
        VALID,
        ",".join(f"k{i}=v" for i in range(32)),
        (int(TRACE, 16), int(SPAN, 16), 1, [(f"k{i}", "v") for i in range(32)]),
    ),
    "8192 characters are kept": (VALID, "a=1" + " " * 8189, (int(TRACE, 16), int(SPAN, 16), 1, [("a", "1")])),
    "8193 characters drop it": (VALID, "a=1" + " " * 8190, (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "a final newline drops the tracestate (not the traceparent)": (
        f"{VALID}\n",
        "a=1\n",
        (int(TRACE, 16), int(SPAN, 16), 1, None),
    ),
    "a space before = drops the tracestate": (VALID, "k =v", (int(TRACE, 16), int(SPAN, 16), 1, None)),
    "a bad traceparent drops a good tracestate": (VALID[:-1], "a=1", None),
}


@pytest.mark.parametrize(("traceparent", "tracestate", "expected"), SURPRISES.values(), ids=SURPRISES.keys())
def test_the_apis_surprises_are_kept(
    traceparent: str,
    tracestate: str | None,
    expected: tuple[int, int, int, list[tuple[str, str]] | None] | None,
) -> None:
    assert api_parse(traceparent, tracestate) == expected
    assert _w3c.parse_traceparent(traceparent, tracestate) == expected


# -- tracestate -----------------------------------------------------------------------------------

KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
GOOD_KEY = st.one_of(
    st.from_regex(r"[a-z][_0-9a-z\-\*\/]{0,255}", fullmatch=True),
    st.from_regex(r"[a-z0-9][_0-9a-z\-\*\/]{0,240}@[a-z][_0-9a-z\-\*\/]{0,13}", fullmatch=True),
    # at the length limits: 256 characters, tenants of 241, systems of 14
    st.sampled_from(["k" * 256, "1" * 241 + "@s", "t@" + "s" * 14, "0" * 241 + "@" + "z" * 14]),
)
BAD_KEY = st.one_of(
    st.sampled_from(
        ["", "A", "Key", "1abc", "_a", "a b", "a.b", "k@", "@s", "t@s@x", "t@1s", "t@S", "k\u00e9"]
    ),
    st.sampled_from(["a\tb", "*", "k ", "a\nb", "t @s", "t@ s", "\u0663", "t@_s", "_@s", "A@s"]),
    st.text(KEY_CHARS + "@A. \t", max_size=8),
)
GOOD_VALUE = st.one_of(
    st.tuples(st.text(VALUE_CHARS, max_size=19), st.sampled_from(VALUE_CHARS[1:])).map("".join),
    st.sampled_from([" v", "a b", "~", "!", "v" * 256, " " * 255 + "v"]),
)
BAD_VALUE = st.one_of(
    st.sampled_from(["", "v ", "v" * 257, "a=b", "=", "\tv", "v\x7f", "\u00e9", "a\nb", "\x00", "v\r"]),
    st.text(VALUE_CHARS + "=\t\x7f\x00\u00e9\n", min_size=1, max_size=6),
)
GOOD_MEMBER = st.tuples(GOOD_KEY, GOOD_VALUE).map(lambda kv: kv[0] + "=" + kv[1])
BAD_MEMBER = st.one_of(
    # one over the length limits: keys of 257, tenants of 242, systems of 15, values of 257
    st.sampled_from(["k" * 257 + "=v", "1" * 242 + "@s=v", "t@" + "s" * 15 + "=v", "k=" + "v" * 257]),
    st.tuples(BAD_KEY, GOOD_VALUE).map(lambda kv: kv[0] + "=" + kv[1]),
    st.tuples(GOOD_KEY, BAD_VALUE).map(lambda kv: kv[0] + "=" + kv[1]),
    st.tuples(GOOD_KEY, st.sampled_from(["", "==", " =", "=\t", ":"]), GOOD_VALUE).map("".join),
    GOOD_MEMBER.map(lambda m: "\n" + m),
    GOOD_MEMBER.map(lambda m: m + "\r"),
)
GOOD_SEPARATOR = st.sampled_from([","] * 6 + [", ", " ,", ",,", "\t,\t", ", ,", " \t, "])
BAD_SEPARATOR = st.sampled_from([";", " ", "\n", ",\n", "\r,", ", \u00a0"])


@st.composite
def tracestates(draw: st.DrawFn) -> str:
    """Good members, maybe one or two of them or their separators spoilt or repeated."""
    items = draw(st.lists(GOOD_MEMBER, max_size=10))
    separators = [draw(GOOD_SEPARATOR) for _ in items]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        how = draw(st.sampled_from(["member", "separator", "duplicate"]))
        at = draw(st.integers(0, len(items)))
        if how == "member":
            items.insert(at, draw(BAD_MEMBER))
            separators.insert(at, ",")
        elif how == "separator" and items:
            separators[at % len(items)] = draw(BAD_SEPARATOR)
        elif items:
            key = items[at % len(items)].partition("=")[0]
            items.insert(at, key + "=" + draw(GOOD_VALUE))
            separators.insert(at, ",")
    text = items[0] + "".join(sep + item for sep, item in zip(separators[1:], items[1:])) if items else ""
    return (
        draw(st.sampled_from(["", "", ",", " ", "\t"]))
        + text
        + draw(st.sampled_from(["", "", ",", " ", "\n"]))
    )


@st.composite
def crowded(draw: st.DrawFn) -> str:
    """28 to 36 members, long values, padding to near 8192 characters, maybe one bad or twice."""
    count = draw(st.integers(28, 36))
    width = draw(st.integers(1, 256))
    fill = draw(st.sampled_from("v~ !x"))
    value = fill + "w" * (width - 1)  # a space first is valid, last is not
    items = [f"k{i}={value}" for i in range(count)]
    spoil = draw(st.sampled_from(["none", "none", "duplicate", "bad"]))
    at = draw(st.integers(0, count - 1))
    if spoil == "duplicate":
        items[at] = items[(at + 1) % count]
    elif spoil == "bad":
        items[at] = "K=v"
    text = ",".join(items)
    target = draw(st.sampled_from([0, 8190, 8191, 8192, 8193, 8194]))
    return text + " " * max(target - len(text), 0)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tracestates())
@example("a=1,b=2")
@example("t@s=1,t@s=2")
def test_tracestate_is_parsed_as_the_api_does(tracestate: str) -> None:
    assert api_parse(VALID, tracestate) == _w3c.parse_traceparent(VALID, tracestate)


#: members at the edges of the grammar: (member, valid?)
EDGE_MEMBERS = [
    ("k" * 256 + "=v", True),
    ("k" * 257 + "=v", False),
    ("1" * 241 + "@s=v", True),
    ("1" * 242 + "@s=v", False),
    ("t@" + "s" * 14 + "=v", True),
    ("t@" + "s" * 15 + "=v", False),
    ("k=" + "v" * 256, True),
    ("k=" + "v" * 257, False),
    ("1abc=v", False),
    ("1@s=v", True),
    ("t@1s=v", False),
    ("t@_s=v", False),
    ("_@s=v", False),
    ("A@s=v", False),
    ("t@S=v", False),
    ("t@s@x=v", False),
    ("@s=v", False),
    ("t@=v", False),
    ("a-_*/0=v", True),
    ("a.b=v", False),
    ("k= v", True),
    ("k=a b", True),
    ("k=v\tw", False),
    ("k=\x7f", False),
    ("k=\x7e", True),
    ("k=!", True),
    ("k=\u00e9", False),
    ("k==", False),
    ("k=a=b", False),
    ("=v", False),
    ("k=", False),
    ("k", False),
    ("k =v", False),
    ("k\t=v", False),
    ("\u0661=v", False),
    ("k=\u0661", False),
]


@pytest.mark.parametrize(("member", "valid"), EDGE_MEMBERS)
def test_edge_members_are_parsed_as_the_api_does(member: str, valid: bool) -> None:
    expected = (int(TRACE, 16), int(SPAN, 16), 1, [tuple(member.split("=", 1))] if valid else None)
    assert api_parse(VALID, member) == expected
    assert _w3c.parse_traceparent(VALID, member) == expected


@SETTINGS
@given(st.one_of(GOOD_MEMBER, BAD_MEMBER), st.sampled_from(["", "a=1,", "a=1, ", "a=1,\t"]))
def test_one_member_is_parsed_as_the_api_does(member: str, before: str) -> None:
    """The member grammar, alone or after a good member."""
    assert api_parse(VALID, before + member) == _w3c.parse_traceparent(VALID, before + member)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded())
def test_crowded_tracestate_is_parsed_as_the_api_does(tracestate: str) -> None:
    """The 32-member and 8192-character limits, with and without a bad member or a duplicate."""
    assert api_parse(VALID, tracestate) == _w3c.parse_traceparent(VALID, tracestate)


# -- out ------------------------------------------------------------------------------------------

VALID_ENTRIES = st.lists(st.tuples(GOOD_KEY, GOOD_VALUE), max_size=32, unique_by=lambda kv: kv[0])
IDS = st.tuples(
    st.one_of(st.integers(1, 2**128 - 1), st.sampled_from([1, 2**64, 2**128 - 1])),
    st.one_of(st.integers(1, 2**64 - 1), st.sampled_from([1, 2**64 - 1])),
    st.integers(0, 255),
)


@SETTINGS
@given(IDS, VALID_ENTRIES)
def test_format_writes_what_the_api_injects(
    ids: tuple[int, int, int], entries: list[tuple[str, str]]
) -> None:
    expected = api_inject(*ids, entries)
    assert expected["traceparent"] == _w3c.format_traceparent(*ids)
    # the API leaves an empty tracestate out; format_tracestate gives "" for it
    assert expected.get("tracestate", "") == _w3c.format_tracestate(entries)


@SETTINGS
@given(IDS, VALID_ENTRIES)
def test_what_format_writes_parse_reads_back(
    ids: tuple[int, int, int], entries: list[tuple[str, str]]
) -> None:
    traceparent, tracestate = _w3c.format_traceparent(*ids), _w3c.format_tracestate(entries)
    assert _w3c.parse_traceparent(traceparent, tracestate) == (*ids, entries or None)
    assert api_parse(traceparent, tracestate) == (*ids, entries or None)


# -- cost -----------------------------------------------------------------------------------------


def test_importing_w3c_imports_no_opentelemetry_and_no_re() -> None:
    """A fresh interpreter: ``import lazyotel._w3c`` and a parse import neither (nor ``logging``)."""
    code = (
        "import sys\n"
        "from lazyotel import _w3c\n"
        f"_w3c.parse_traceparent({VALID!r}, 'a=1')\n"
        "found = sorted(m for m in sys.modules if m in ('re', 'logging') or m.startswith('opentelemetry'))\n"
        "import json\n"  # json imports re: only now
        "print(json.dumps(found))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == []
