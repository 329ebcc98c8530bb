"""``lazyotel._jsonenc``: JSON from CPython's accelerator, identical to the ``json`` module's."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazyotel import _jsonenc

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=documents, ensure_ascii=st.booleans(), compact=st.booleans())
def test_the_encoder_writes_what_json_writes(value: Any, ensure_ascii: bool, compact: bool) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    ours = _jsonenc.encoder(ensure_ascii=ensure_ascii, separators=separators)(value)
    assert ours == json.dumps(value, ensure_ascii=ensure_ascii, separators=separators)


@settings(max_examples=200, deadline=None)
@given(value=documents, padding=st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_the_decoder_reads_what_json_reads(value: Any, padding: str) -> None:
    text = padding + json.dumps(value) + padding
    assert _jsonenc.decoder()(text) == json.loads(text)


def test_non_finite_floats_follow_allow_nan() -> None:
    assert _jsonenc.encoder()([math.inf, -math.inf]) == "[Infinity, -Infinity]"
    with pytest.raises(ValueError, match="Out of range float values"):
        _jsonenc.encoder(allow_nan=False)(math.nan)
    assert math.isnan(_jsonenc.decoder()("NaN"))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", " ", "{", "[1] x", '{"a":}', "[1,]", "tru"])
def test_bad_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        _jsonenc.decoder()(text)


def test_an_unknown_type_raises_jsons_type_error() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        _jsonenc.encoder()({"a": object()})


def test_making_and_using_them_imports_no_json() -> None:
    code = (
        "import sys; from lazyotel import _jsonenc; "
        "_jsonenc.encoder()({'a': [1, 2.5]}); _jsonenc.decoder()('{\"a\": [1]}'); "
        "print(sorted(m for m in sys.modules if m == 'json' or m.startswith('json.') or m == 're'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
