"""Nothing until used: the cold path imports no OpenTelemetry and nothing heavy (fresh interpreters)."""

from __future__ import annotations

import json

import pytest
from _child import run_child

FORBIDDEN = (
    "opentelemetry",
    "wrapt",
    "httpx",
    "asyncio",
    "importlib.metadata",
    "inspect",
    "dataclasses",
)

REPORT = """
import json, sys
forbidden = {forbidden!r}
found = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
print(json.dumps(found))
"""


def imported_after(code: str, env: dict[str, str]) -> list[str]:
    child = run_child(code + REPORT.format(forbidden=FORBIDDEN), env, level=None)
    assert child.returncode == 0, child.stderr
    assert child.stderr == ""
    found: list[str] = json.loads(child.stdout.splitlines()[-1])
    return found


@pytest.mark.parametrize("mode", ["on", "off", "test", None])
def test_import_bootstrap_get_tracer_import_nothing_heavy(
    subprocess_env: dict[str, str], mode: str | None
) -> None:
    """The issue's first test, in every mode (``on`` included: activation waits for a span)."""
    if mode is not None:
        subprocess_env["LAZYOTEL_MODE"] = mode
    code = """
import lazyotel
lazyotel.bootstrap("svc")
lazyotel.get_tracer("x")
"""
    assert imported_after(code, subprocess_env) == []


def test_every_bootstrap_argument_imports_nothing_heavy(subprocess_env: dict[str, str]) -> None:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    code = """
import lazyotel
lazyotel.bootstrap(
    "svc",
    exporter="otlp",
    endpoint="http://127.0.0.1:4318",
    protocol="grpc",
    headers="authorization=Bearer%20x,x-tenant=7",
    resource_attributes={"deployment.environment": "ci"},
    instrument=["httpx", "requests"],
    flush_timeout=0.5,
    span_prefix="app.",
    capture_args=False,
    redact=["pin"],
    mode="on",
)
lazyotel.bootstrap(exporter="console", protocol="http/protobuf")
lazyotel.reconfigure(endpoint="http://127.0.0.1:4319", headers={"a": "b"})
tracer = lazyotel.get_tracer("x", "1.0", "https://opentelemetry.io/schemas/1.21.0")
assert lazyotel.mode() == "on"
repr(tracer)
"""
    assert imported_after(code, subprocess_env) == []


def test_bad_arguments_raise_without_importing_anything_heavy(subprocess_env: dict[str, str]) -> None:
    code = """
import lazyotel
for kwargs in ({"exporter": "otpl"}, {"protocol": "http/xml"}, {"flush_timeout": -1}, {"nope": 1}):
    try:
        lazyotel.bootstrap("svc", **kwargs)
    except (TypeError, ValueError):
        pass
    else:
        raise SystemExit(f"no error for {kwargs}")
"""
    assert imported_after(code, subprocess_env) == []


@pytest.mark.parametrize(
    "env_var",
    [
        {"LAZYOTEL_MODE": "off"},
        {"OTEL_SDK_DISABLED": "true"},
        {"OTEL_TRACES_EXPORTER": "none"},
        {"PYTEST_VERSION": "9.0"},
    ],
)
def test_bypassed_traced_code_imports_no_opentelemetry(
    subprocess_env: dict[str, str], env_var: dict[str, str]
) -> None:
    """In off and test mode a span through lazyotel's tracer never activates telemetry."""
    subprocess_env.update(env_var)
    code = """
import sys
import lazyotel
lazyotel.bootstrap("svc")
with lazyotel.get_tracer("x").start_as_current_span("s"):
    pass
from lazyotel._provider import RUNTIME
assert not RUNTIME.activated and RUNTIME.own is None
assert not any(m.startswith("opentelemetry.sdk") for m in sys.modules), "the SDK was imported"
"""
    child = run_child(code, subprocess_env, level=None)
    assert child.returncode == 0, child.stderr
