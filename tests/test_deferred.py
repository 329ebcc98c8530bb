"""``bootstrap(endpoint=callable, headers=callable, resource_attributes=callable)``.

A CLI's collector often comes from its settings, whose import costs more than the CLI's own:
the callable is called once, at activation, never at import, never in off or test mode. Real
parts: fresh interpreters, the real OTLP receiver.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _child import lazyotel_warnings, run_child

import lazyotel
from lazyotel import _config
from lazyotel._receiver import OTLPReceiver

# A child CLI: the settings module is "imported" (counted) only when a callable runs.
PRELUDE = """
import sys
import lazyotel

CALLS = []

def settings_endpoint():
    CALLS.append("endpoint")
    print("CALLED endpoint", file=sys.stderr)
    return ENDPOINT

@lazyotel.trace_command("deploy")
def deploy(env):
    return {{"env": env}}
"""


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"
    return subprocess_env


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def test_endpoint_callable_is_called_once_at_activation_and_spans_reach_it(
    on_env: dict[str, str], receiver: OTLPReceiver
) -> None:
    code = f"""
ENDPOINT = {receiver.endpoint!r}
{PRELUDE.format()}
lazyotel.bootstrap("svc", endpoint=settings_endpoint)
print("after bootstrap", CALLS)
print(deploy("prod"), deploy("dev"))
print("after two commands", CALLS)
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert lazyotel_warnings(child) == []
    lines = child.stdout.splitlines()
    assert lines == [
        "after bootstrap []",
        "{'env': 'prod'} {'env': 'dev'}",
        "after two commands ['endpoint']",
    ]
    assert [span.name for span in receiver.wait_for(2)] == ["cli.deploy", "cli.deploy"]


@pytest.mark.parametrize("mode", ["off", "test"])
def test_callables_are_never_called_outside_on_mode(subprocess_env: dict[str, str], mode: str) -> None:
    subprocess_env["LAZYOTEL_MODE"] = mode
    code = """
import sys
import lazyotel

def boom():
    raise SystemExit("a deferred setting was called")

lazyotel.bootstrap("svc", endpoint=boom, headers=boom, resource_attributes=boom)

@lazyotel.trace_command
def deploy():
    return 7

print(deploy())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    child = run_child(code, subprocess_env)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["7", "[]"]
    assert child.warnings == []


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("def bad():\n    raise RuntimeError('settings file missing')", "raised RuntimeError: settings file"),
        ("def bad():\n    return 42", "expected a string"),
        ("def bad():\n    return bad", "returned a callable"),
    ],
)
def test_a_failing_callable_is_one_warning_and_telemetry_off(
    on_env: dict[str, str], factory: str, expected: str
) -> None:
    code = f"""
import sys
import lazyotel
{factory}
lazyotel.bootstrap("svc", endpoint=bad)

@lazyotel.trace_command
def deploy(env):
    print("deployed", env)
    return 0

deploy("prod")
deploy("dev")
from lazyotel._provider import RUNTIME
print("own provider:", RUNTIME.own is not None, "mode:", lazyotel.mode())
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["deployed prod", "deployed dev", "own provider: False mode: on"]
    warnings = lazyotel_warnings(child)
    assert len(warnings) == 1, child.stderr
    assert "telemetry is off for this run" in warnings[0]
    assert "endpoint=<bad>" in warnings[0]
    assert expected in warnings[0]


def test_a_raising_headers_callable_never_shows_its_message(on_env: dict[str, str]) -> None:
    code = """
import lazyotel

def headers():
    raise KeyError("authorization=Bearer s3cr3t")

lazyotel.bootstrap("svc", headers=headers, endpoint="http://127.0.0.1:9")

@lazyotel.trace_command
def deploy():
    return 0

deploy()
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    (warning,) = lazyotel_warnings(child)
    assert "headers=<headers>) raised KeyError" in warning
    assert "s3cr3t" not in child.stderr


def test_reconfigure_wins_over_an_endpoint_callable(on_env: dict[str, str], receiver: OTLPReceiver) -> None:
    code = f"""
import lazyotel

def settings_endpoint():
    raise SystemExit("the settings endpoint was called although --url was given")

lazyotel.bootstrap("svc", endpoint=settings_endpoint)
lazyotel.reconfigure(endpoint={receiver.endpoint!r})   # the user's --url

@lazyotel.trace_command
def deploy():
    return 0

deploy()
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert lazyotel_warnings(child) == []
    assert [span.name for span in receiver.wait_for(1)] == ["cli.deploy"]


def test_headers_and_resource_callables_reach_the_receiver(
    on_env: dict[str, str], receiver: OTLPReceiver
) -> None:
    code = f"""
import lazyotel

class Settings:  # what pydantic-settings would give, slow to import in a real CLI
    api_key = "k-42"
    version = "3.1.4"
    environment = "staging"

lazyotel.bootstrap(
    "svc",
    endpoint=lambda: {receiver.endpoint!r},
    headers=lambda: {{"x-api-key": Settings.api_key}},
    resource_attributes=lambda: {{
        "service.version": Settings.version,
        "deployment.environment": Settings.environment,
    }},
)

@lazyotel.trace_command
def deploy():
    return 0

deploy()
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert lazyotel_warnings(child) == []
    (span,) = receiver.wait_for(1)
    assert span.resource["service.version"] == "3.1.4"
    assert span.resource["deployment.environment"] == "staging"
    assert span.resource["service.name"] == "svc"
    assert receiver.exports[0].headers["x-api-key"] == "k-42"


def test_bootstrap_records_the_callable_without_calling_it() -> None:
    calls: list[int] = []

    def endpoint() -> str:
        calls.append(1)
        return "http://127.0.0.1:4318"

    lazyotel.bootstrap("svc", endpoint=endpoint)
    assert calls == []
    assert _config.SETTINGS.endpoint is None
    assert _config.SETTINGS.deferred == {"endpoint": endpoint}
    lazyotel.reconfigure(endpoint="http://127.0.0.1:4319")
    assert _config.SETTINGS.deferred == {}
    assert _config.SETTINGS.endpoint == "http://127.0.0.1:4319"
    assert calls == []


def test_resolve_checks_the_result_like_the_argument() -> None:
    settings = _config.Settings()
    _config.apply(settings, {"resource_attributes": lambda: {1: "x"}})
    with pytest.raises(TypeError, match=r"resource_attributes=<.*<lambda>>\(\) -> 1\)"):
        _config.resolve_deferred(settings)


def test_a_callable_given_after_activation_is_called_then(on_env: dict[str, str]) -> None:
    with OTLPReceiver() as first, OTLPReceiver() as second:
        code = f"""
import lazyotel

@lazyotel.trace_command
def deploy():
    return 0

lazyotel.bootstrap("svc", endpoint={first.endpoint!r})
deploy()
lazyotel.flush(10)
lazyotel.bootstrap("svc", endpoint=lambda: {second.endpoint!r})  # live: the exporter is swapped
deploy()
"""
        child = run_child(code, on_env)
        assert child.returncode == 0, child.stderr
        assert lazyotel_warnings(child) == []
        assert [span.name for span in second.wait_for(1)] == ["cli.deploy"]
        assert [span.name for span in first.spans] == ["cli.deploy"]
