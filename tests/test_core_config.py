"""Configuration: bad arguments fail fast with a useful message; the mode and its precedence."""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from _child import child_env, run_child
from hypothesis import given
from hypothesis import strategies as st

import lazyotel
from lazyotel import _bounded, _config

ROOT = Path(__file__).resolve().parent.parent

# -- bad arguments --------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    # (keywords, exception, fragments the message must contain: parameter=value, choices, fix)
    ({"exporter": "otpl"}, ValueError, ["exporter='otpl'", "'otlp', 'console', 'none'", "SpanExporter"]),
    ({"exporter": 42}, TypeError, ["exporter=42", "an exporter name, a SpanExporter object or a factory"]),
    ({"protocol": "http/xml"}, ValueError, ["protocol='http/xml'", "'http/protobuf', 'grpc'"]),
    ({"protocol": "http/json"}, ValueError, ["protocol='http/json'", "use 'http/protobuf'"]),
    ({"flush_timeout": -1}, ValueError, ["flush_timeout=-1", ">= 0", "for example 1.0"]),
    ({"flush_timeout": -0.5}, ValueError, ["flush_timeout=-0.5", ">= 0", "for example 1.0"]),
    ({"flush_timeout": float("nan")}, ValueError, ["flush_timeout=nan", ">= 0"]),
    ({"flush_timeout": float("inf")}, ValueError, ["flush_timeout=inf", "finite"]),
    ({"flush_timeout": "1"}, TypeError, ["flush_timeout='1'", "a number of seconds", "got str"]),
    ({"flush_timeout": True}, TypeError, ["flush_timeout=True", "a number of seconds", "got bool"]),
    ({"service_name": 42}, TypeError, ["service_name=42", "expected a string or None", "got int"]),
    ({"service_name": b"svc"}, TypeError, ["service_name=b'svc'", "expected a string or None", "got bytes"]),
    ({"service_name": " "}, ValueError, ["service_name=' '", "must not be empty", "pass None"]),
    ({"mode": "sometimes"}, ValueError, ["mode='sometimes'", "'on', 'off', 'test', 'auto'"]),
    ({"mode": 1}, ValueError, ["mode=1", "'on', 'off', 'test', 'auto'"]),
    ({"endpoint": "localhost:4318"}, ValueError, ["endpoint='localhost:4318'", "http://localhost:4318"]),
    ({"instrument": ["not a name"]}, ValueError, ["instrument='not a name'", "for example 'httpx'"]),
    ({"redact": [""]}, ValueError, ["redact=''", "non-empty string"]),
    ({"capture_args": "yes"}, TypeError, ["capture_args='yes'", "True, False or a callable"]),
    ({"span_prefix": None}, TypeError, ["span_prefix=None", "a string"]),
    ({"resource_attributes": [("a", 1)]}, TypeError, ["resource_attributes=", "a mapping"]),
    ({"flush_timout": 2.0}, TypeError, ["keyword argument 'flush_timout'", "did you mean 'flush_timeout'"]),
    ({"servicename": "x"}, TypeError, ["keyword argument 'servicename'", "did you mean 'service_name'"]),
    ({"colour": "red"}, TypeError, ["keyword argument 'colour'", "valid keywords: service_name, exporter"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    BAD_ARGUMENTS,
    ids=[next(iter(k)) + "-" + repr(next(iter(k.values()))) for k, _, _ in BAD_ARGUMENTS],
)
def test_bad_bootstrap_argument_raises_naming_parameter_value_choices_and_fix(
    kwargs: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        lazyotel.bootstrap(**kwargs)
    message = str(info.value)
    assert type(info.value) is error
    for fragment in fragments:
        assert fragment in message
    if "keyword" not in message:
        assert message.startswith("lazyotel.bootstrap(")


def test_a_bad_bootstrap_call_changes_nothing() -> None:
    lazyotel.bootstrap("first", flush_timeout=2.0)
    with pytest.raises(ValueError, match="flush_timeout"):
        lazyotel.bootstrap("second", endpoint="http://127.0.0.1:9", flush_timeout=-1)
    assert (_config.SETTINGS.service_name, _config.SETTINGS.endpoint) == ("first", None)
    assert _config.SETTINGS.flush_timeout == 2.0


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        (
            {"protocol": "carrier-pigeon"},
            ValueError,
            ["protocol='carrier-pigeon'", "'http/protobuf', 'grpc'"],
        ),
        ({"exporter": "otpl"}, ValueError, ["exporter='otpl'", "'otlp', 'console', 'none'"]),
        ({"endpoint": "collector:4318"}, ValueError, ["endpoint='collector:4318'", "http://collector:4318"]),
        (
            {"url": "http://x"},
            TypeError,
            ["reconfigure() got an unexpected keyword argument 'url'", "endpoint"],
        ),
        (
            {"delivery": "inline"},
            TypeError,
            ["argument 'delivery'", "delivery= is set with lazyotel.bootstrap() only", "endpoint, headers"],
        ),
    ],
)
def test_bad_reconfigure_argument_raises_naming_parameter_value_and_choices(
    kwargs: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        lazyotel.reconfigure(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_malformed_headers_argument_names_the_item_not_the_secret() -> None:
    with pytest.raises(ValueError, match=r"headers=\.\.\..*item 2") as info:
        lazyotel.bootstrap(headers="authorization=Bearer%20s3cr3t-value,s3cr3t-broken")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(TypeError, match="'authorization'") as type_info:
        lazyotel.bootstrap(headers={"authorization": b"s3cr3t-bytes"})  # type: ignore[dict-item]
    assert "s3cr3t" not in str(type_info.value)


def hidden_env(subprocess_env: dict[str, str], site: Path) -> dict[str, str]:
    subprocess_env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return subprocess_env


def test_site_without_really_hides_the_exporters(
    subprocess_env: dict[str, str], site_without_exporters: Path
) -> None:
    code = """
import opentelemetry.sdk.trace
try:
    import opentelemetry.exporter.otlp.proto.http
except ImportError:
    print("hidden")
"""
    child = run_child(code, hidden_env(subprocess_env, site_without_exporters), python_flags=("-S",))
    assert (child.stdout, child.returncode) == ("hidden\n", 0), child.stderr


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"exporter": "otlp"}, ["http/protobuf exporter is not installed", "pip install 'lazyotel[otlp]'"]),
        ({"protocol": "grpc"}, ["OTLP grpc exporter is not installed", "pip install 'lazyotel[grpc]'"]),
        ({"exporter": "otlp", "protocol": "grpc"}, ["grpc exporter is not installed", "lazyotel[grpc]'"]),
    ],
)
def test_missing_extra_names_the_pip_install_that_fixes_it(
    subprocess_env: dict[str, str], site_without_exporters: Path, kwargs: dict[str, str], fragments: list[str]
) -> None:
    """Not at bootstrap (that would kill --help and off mode), but once telemetry starts."""
    code = f"""
import lazyotel
lazyotel.bootstrap("svc", **{kwargs!r})
print("bootstrapped")
with lazyotel.get_tracer("x").start_as_current_span("s"):
    print("ran")
"""
    env = hidden_env(subprocess_env, site_without_exporters)
    env["LAZYOTEL_MODE"] = "on"
    child = run_child(code, env, python_flags=("-S",))
    assert (child.stdout, child.returncode) == ("bootstrapped\nran\n", 0), child.stderr
    (warning,) = child.warnings
    for fragment in fragments:
        assert fragment in warning


# -- mode -----------------------------------------------------------------------------------------

MODE_CASES = [
    # (environment, bootstrap(mode=...), expected mode)
    ({}, None, "on"),
    ({}, "off", "off"),
    ({}, "test", "test"),
    ({}, "auto", "on"),
    ({"LAZYOTEL_MODE": "off"}, "on", "off"),
    ({"LAZYOTEL_MODE": "test"}, "on", "test"),
    ({"LAZYOTEL_MODE": " ON "}, "off", "on"),
    ({"LAZYOTEL_MODE": "on", "OTEL_SDK_DISABLED": "true"}, None, "on"),
    ({"LAZYOTEL_MODE": "on", "OTEL_TRACES_EXPORTER": "none"}, None, "on"),
    ({"LAZYOTEL_MODE": "auto", "OTEL_SDK_DISABLED": "true"}, "on", "off"),
    ({"OTEL_SDK_DISABLED": "true"}, "on", "off"),
    ({"OTEL_SDK_DISABLED": "TRUE"}, None, "off"),
    ({"OTEL_SDK_DISABLED": "false"}, None, "on"),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, "on", "off"),
    ({"OTEL_TRACES_EXPORTER": "none"}, "on", "off"),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, "off", "off"),
    ({"PYTEST_VERSION": "9.0.0"}, None, "test"),
    ({"PYTEST_CURRENT_TEST": "tests/test_x.py::test_y (call)"}, None, "test"),
    ({"PYTEST_VERSION": "9.0.0"}, "on", "on"),
    ({"PYTEST_VERSION": "9.0.0", "LAZYOTEL_MODE": "auto"}, None, "test"),
    ({"PYTEST_VERSION": "9.0.0", "LAZYOTEL_MODE": "on"}, "off", "on"),
    ({"PYTEST_VERSION": "9.0.0", "OTEL_SDK_DISABLED": "true"}, "on", "off"),
]


@pytest.mark.parametrize(("env", "mode", "expected"), MODE_CASES)
def test_mode_precedence(
    subprocess_env: dict[str, str], env: dict[str, str], mode: str | None, expected: str
) -> None:
    """LAZYOTEL_MODE > OTEL_SDK_DISABLED=true > OTEL_TRACES_EXPORTER=none > bootstrap(mode=) > auto."""
    subprocess_env.update(env)
    code = f"""
import lazyotel
lazyotel.bootstrap("svc", mode={mode!r})
print(lazyotel.mode())
"""
    child = run_child(code, subprocess_env)
    assert (child.returncode, child.stdout) == (0, expected + "\n"), child.stderr
    assert child.warnings == []


def test_unknown_lazyotel_mode_warns_once_and_is_ignored(subprocess_env: dict[str, str]) -> None:
    subprocess_env["LAZYOTEL_MODE"] = "sometimes"
    code = """
import lazyotel
lazyotel.bootstrap("svc", mode="test")
print(lazyotel.mode())
lazyotel.bootstrap("svc", mode="off")
print(lazyotel.mode())
"""
    child = run_child(code, subprocess_env)
    assert (child.returncode, child.stdout) == (0, "test\noff\n"), child.stderr
    assert len(child.warnings) == 1
    assert "LAZYOTEL_MODE='sometimes'" in child.warnings[0]


def test_bootstrap_mode_after_the_first_decision_recomputes_it(subprocess_env: dict[str, str]) -> None:
    code = """
import lazyotel
lazyotel.bootstrap("svc")
print(lazyotel.mode())
lazyotel.bootstrap("svc", mode="off")
print(lazyotel.mode())
"""
    child = run_child(code, subprocess_env)
    assert child.stdout == "on\noff\n", child.stderr


def test_this_pytest_process_is_in_test_mode() -> None:
    assert "PYTEST_VERSION" in os.environ
    assert lazyotel.mode() == "test"


def test_children_and_grandchildren_of_pytest_are_in_test_mode() -> None:
    """pytest's PYTEST_VERSION / PYTEST_CURRENT_TEST are inherited down the process tree."""
    env = child_env(("OTEL_", "LAZYOTEL_"))  # pytest's markers kept: they are the point
    code = """
import os, subprocess, sys
import lazyotel
print(lazyotel.mode(), "PYTEST_CURRENT_TEST" in os.environ)
grandchild = "import lazyotel; print(lazyotel.mode())"
sys.stdout.flush()
subprocess.run([sys.executable, "-c", grandchild], check=True)
"""
    child = run_child(code, env)
    assert (child.returncode, child.stdout) == (0, "test True\ntest\n"), child.stderr


def test_pytest_current_test_alone_means_test_mode(subprocess_env: dict[str, str]) -> None:
    """Older pytest sets only PYTEST_CURRENT_TEST; a child of such a run is in test mode."""
    subprocess_env["PYTEST_CURRENT_TEST"] = "t.py::t (call)"
    child = run_child("import lazyotel; print(lazyotel.mode())", subprocess_env)
    assert child.stdout == "test\n", child.stderr


# -- LAZYOTEL_FLUSH_TIMEOUT -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("0.25", 0.25), (" 3 ", 3.0), ("0", 0.0)])
def test_lazyotel_flush_timeout_overrides_the_argument(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: float
) -> None:
    lazyotel.bootstrap("svc", flush_timeout=7.0)
    monkeypatch.setenv("LAZYOTEL_FLUSH_TIMEOUT", raw)
    assert _bounded.flush_timeout() == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_malformed_lazyotel_flush_timeout_is_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    lazyotel.bootstrap("svc", flush_timeout=7.0)
    monkeypatch.setenv("LAZYOTEL_FLUSH_TIMEOUT", raw)
    assert _bounded.flush_timeout() == 7.0
    assert _bounded.flush_timeout() == 7.0
    warnings = [r for r in caplog.records if r.name == "lazyotel" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "LAZYOTEL_FLUSH_TIMEOUT" in warnings[0].getMessage()


# -- headers parsing (property tests) --------------------------------------------------------------

_names = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=20)
_values = st.text(min_size=0, max_size=30).filter(lambda v: v == v.strip())


@given(st.dictionaries(_names, _values, max_size=6))
def test_parse_headers_round_trips_url_encoded_items(headers: dict[str, str]) -> None:
    raw = ",".join(f"{quote(k)}={quote(v)}" for k, v in headers.items())
    expected = {k.lower(): v for k, v in headers.items()}
    assert _config.parse_headers(raw) == expected


@given(st.text(max_size=80))
def test_parse_headers_never_raises_on_environment_input(raw: str) -> None:
    _config.parse_headers(raw)


@given(st.text(string.ascii_letters + string.digits, min_size=12, max_size=40), st.booleans())
def test_parse_headers_error_never_contains_the_item(secret: str, first: bool) -> None:
    raw = f"{secret},ok=1" if first else f"ok=1,{secret}"
    with pytest.raises(ValueError, match="headers") as info:
        _config.parse_headers(raw, param="headers")
    assert secret not in str(info.value)


def test_bootstrap_signature_follows_the_settings_table() -> None:
    import inspect

    params = [p for p in inspect.signature(lazyotel.bootstrap).parameters.values() if p.kind != p.VAR_KEYWORD]
    assert [p.name for p in params] == [row.name for row in _config.TABLE]
    assert {p.name: p.default for p in params} == {row.name: row.default for row in _config.TABLE}
    fresh = _config.Settings()
    assert {row.name: getattr(fresh, row.name) for row in _config.TABLE} == {
        p.name: p.default for p in params
    }
    assert set(_config.Settings.__annotations__) == {*_config.ROWS, "deferred"}


def test_reconfigure_takes_the_settings_the_table_marks_reconfigurable() -> None:
    import inspect

    keywords = set(inspect.signature(lazyotel.reconfigure).parameters) - {"strict", "unknown"}
    assert keywords == {row.name for row in _config.TABLE if row.reconfigure}


@pytest.mark.parametrize("call", ["bootstrap", "reconfigure"])
def test_the_error_names_the_function_that_was_called(call: str) -> None:
    with pytest.raises(ValueError, match=rf"^lazyotel\.{call}\(protocol='smtp'\): unknown protocol"):
        getattr(lazyotel, call)(protocol="smtp")
