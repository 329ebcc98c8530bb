"""Faults are contained: whatever telemetry does wrong, the command runs as if it were not there.

Every test runs the same small program in a fresh interpreter with telemetry on and one fault,
and checks: the same stdout and exit code as without telemetry, nothing else on stderr, at most
one warning (from the ``lazyotel`` logger), and an exit within ``flush_timeout`` plus a margin.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from _child import Child, lazyotel_warnings, run_child, site_without

from lazyotel._receiver import OTLPReceiver, refused_endpoint

ROOT = Path(__file__).resolve().parent.parent
FLUSH_TIMEOUT = 1.0
MARGIN = 3.0

PROGRAM = """
import sys
import lazyotel
{setup}
tracer = lazyotel.get_tracer("fault.demo")

def work(n):
    with tracer.start_as_current_span("work") as span:
        span.set_attribute("n", n)
        span.add_event("step", {{"n": n}})
        return n * n

print("total", sum(work(i) for i in range(20)))
stamp()
sys.exit(3)
"""
EXPECTED_STDOUT = "total 2470\n"
EXPECTED_CODE = 3


def run_program(setup: str, env: dict[str, str], **kwargs: object) -> Child:
    return run_child(PROGRAM.format(setup=setup), env, **kwargs)  # type: ignore[arg-type]


def assert_unaffected(child: Child, *, warned: bool | None) -> None:
    """Same result and exit code, a clean stderr, at most one lazyotel warning, a bounded exit.

    ``warned``: True if the fault must be reported (once), False if it must stay silent,
    None if either is fine.
    """
    assert (child.stdout, child.returncode) == (EXPECTED_STDOUT, EXPECTED_CODE), child.stderr
    assert child.other_stderr == [], child.stderr
    warnings = lazyotel_warnings(child)
    assert len(warnings) <= 1, child.stderr
    if warned is not None:
        assert len(warnings) == int(warned), child.stderr
    assert child.exit_seconds < FLUSH_TIMEOUT + MARGIN


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    return subprocess_env


def reported(env: dict[str, str]) -> dict[str, str]:
    """For a fault that must be reported: a deadline no loaded machine can run out of.

    A fault that does not hang (refused, raised) is noticed only when the exporter is built
    and exports, which can take most of a 1 s deadline under load. A 20 s deadline keeps the
    warning certain, and the exit bound (``FLUSH_TIMEOUT + MARGIN``) still proves nothing waits.
    """
    env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"
    return env


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def test_baseline_without_telemetry(subprocess_env: dict[str, str]) -> None:
    """The reference the fault tests compare with: telemetry off."""
    subprocess_env["LAZYOTEL_MODE"] = "off"
    child = run_program('lazyotel.bootstrap("fault-demo")', subprocess_env)
    assert_unaffected(child, warned=False)


def test_healthy_collector_gets_every_span_and_no_warning(
    on_env: dict[str, str], receiver: OTLPReceiver
) -> None:
    """The control: the same program with nothing wrong exports its 20 spans silently."""
    on_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # what arrives is checked here, not speed
    child = run_program(f'lazyotel.bootstrap("fault-demo", endpoint={receiver.endpoint!r})', on_env)
    assert_unaffected(child, warned=False)
    assert receiver.names() == ["work"] * 20


# -- collectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_dead_collector(on_env: dict[str, str], protocol: str) -> None:
    setup = f'lazyotel.bootstrap("fault-demo", endpoint={refused_endpoint()!r}, protocol={protocol!r})'
    assert_unaffected(run_program(setup, reported(on_env)), warned=True)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_silent_collector(on_env: dict[str, str], protocol: str) -> None:
    with OTLPReceiver(protocol=protocol, behaviour="silent") as silent:
        setup = f'lazyotel.bootstrap("fault-demo", endpoint={silent.endpoint!r}, protocol={protocol!r})'
        child = run_program(setup, on_env)
    assert_unaffected(child, warned=None)


def test_default_collector_absent_is_not_worth_a_warning(on_env: dict[str, str]) -> None:
    """Nobody configured an endpoint: the default localhost collector being absent (a developer's
    machine) is logged at debug level, not warned about on every run."""
    with socket.socket() as probe:
        if probe.connect_ex(("localhost", 4318)) == 0:
            pytest.skip("something listens on localhost:4318")
    child = run_program('lazyotel.bootstrap("fault-demo")', reported(on_env))
    assert_unaffected(child, warned=False)
    explicit = f'lazyotel.bootstrap("fault-demo", endpoint={refused_endpoint()!r})'
    assert_unaffected(run_program(explicit, reported(on_env)), warned=True)


def test_unresolvable_collector_host(on_env: dict[str, str]) -> None:
    setup = 'lazyotel.bootstrap("fault-demo", endpoint="http://collector.invalid:4318")'
    assert_unaffected(run_program(setup, reported(on_env)), warned=True)


# -- exporters ----------------------------------------------------------------------------------------

EXPORTERS = {
    "export-raises": """
class Exporter:
    def export(self, spans):
        raise RuntimeError("exporter bug")
    def shutdown(self):
        pass
    def force_flush(self, timeout_millis=30000):
        return True
lazyotel.bootstrap("fault-demo", exporter=Exporter())
""",
    "export-returns-garbage": """
class Exporter:
    def export(self, spans):
        return "yes"
    def shutdown(self):
        pass
lazyotel.bootstrap("fault-demo", exporter=Exporter())
""",
    "shutdown-and-flush-raise": """
class Exporter:
    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult
        return SpanExportResult.SUCCESS
    def shutdown(self):
        raise RuntimeError("shutdown bug")
    def force_flush(self, timeout_millis=30000):
        raise RuntimeError("flush bug")
lazyotel.bootstrap("fault-demo", exporter=Exporter())
""",
    "export-hangs": """
import time
class Exporter:
    def export(self, spans):
        time.sleep(60)
    def shutdown(self):
        time.sleep(60)
lazyotel.bootstrap("fault-demo", exporter=Exporter())
""",
    "factory-raises": """
def make_exporter():
    raise ImportError("no module named 'vendor_exporter'")
lazyotel.bootstrap("fault-demo", exporter=make_exporter)
""",
    "factory-hangs": """
import time
def make_exporter():
    time.sleep(60)  # a vendor exporter that connects in its constructor, to a hung host
lazyotel.bootstrap("fault-demo", exporter=make_exporter)
""",
    "factory-returns-none": """
lazyotel.bootstrap("fault-demo", exporter=lambda: None)
""",
}


@pytest.mark.parametrize("fault", sorted(EXPORTERS))
def test_broken_exporter(on_env: dict[str, str], fault: str) -> None:
    if fault in ("export-raises", "factory-raises"):
        assert_unaffected(run_program(EXPORTERS[fault], reported(on_env)), warned=True)
    else:
        assert_unaffected(run_program(EXPORTERS[fault], on_env), warned=None)


def test_flush_from_the_command_with_a_raising_exporter_does_not_raise(on_env: dict[str, str]) -> None:
    setup = EXPORTERS["shutdown-and-flush-raise"] + "\nimport atexit; atexit.register(lazyotel.flush)\n"
    assert_unaffected(run_program(setup, on_env), warned=None)


# -- missing or broken exporter packages ----------------------------------------------------------------


@pytest.fixture(scope="module")
def site_without_http_exporter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return site_without(tmp_path_factory.mktemp("site"), "opentelemetry/exporter/otlp/proto/http")


def test_missing_exporter_package(on_env: dict[str, str], site_without_http_exporter: Path) -> None:
    """No ``lazyotel[otlp]`` installed, OTLP chosen by the environment: telemetry stays off."""
    on_env["PYTHONPATH"] = os.pathsep.join([str(site_without_http_exporter), str(ROOT)])
    on_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    child = run_program('lazyotel.bootstrap("fault-demo")', on_env, python_flags=("-S",))
    assert_unaffected(child, warned=True)
    assert "pip install 'lazyotel[otlp]'" in child.warnings[0]


def test_broken_exporter_package(on_env: dict[str, str], receiver: OTLPReceiver) -> None:
    """The exporter package is on disk but its import fails (a broken install)."""
    setup = f"""
import sys
class Broken:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("opentelemetry.exporter.otlp.proto.http"):
            raise ImportError("broken install: " + name)
sys.meta_path.insert(0, Broken())
lazyotel.bootstrap("fault-demo", endpoint={receiver.endpoint!r})
"""
    assert_unaffected(run_program(setup, reported(on_env)), warned=True)
    assert receiver.spans == []


# -- malformed OTEL_* values ---------------------------------------------------------------------------

MALFORMED = [
    {"OTEL_BSP_MAX_QUEUE_SIZE": "lots"},
    {"OTEL_BSP_MAX_QUEUE_SIZE": "-5"},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "0"},
    {"OTEL_BSP_SCHEDULE_DELAY": "soon"},
    {"OTEL_BSP_EXPORT_TIMEOUT": "later"},
    {"OTEL_EXPORTER_OTLP_TIMEOUT": "ten"},
    {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"},
    {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/xml"},
    {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
    {"OTEL_EXPORTER_OTLP_COMPRESSION": "zip"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:notaport"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "::::"},
    {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
    {"OTEL_RESOURCE_ATTRIBUTES": "a,=b,c=%zz,=,d=e=f"},
    {"OTEL_SERVICE_NAME": ""},
    {"OTEL_TRACES_SAMPLER": "sometimes"},
    {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
    {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "many"},
    {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "-3"},
    {"OTEL_SPAN_EVENT_COUNT_LIMIT": "x"},
    {"OTEL_PROPAGATORS": "carrier-pigeon"},
    {"OTEL_TRACES_EXPORTER": "no-such-exporter"},
    {"OTEL_TRACES_EXPORTER": ",,"},
    {"OTEL_SDK_DISABLED": "maybe"},
    {"OTEL_EXPORTER_OTLP_HEADERS": "novalue,=x,%%%"},
    {"LAZYOTEL_MODE": "sometimes"},
    {"LAZYOTEL_FLUSH_TIMEOUT": "soon"},
]


@pytest.mark.parametrize(
    "variables", MALFORMED, ids=[",".join(f"{k}={v}" for k, v in m.items()) for m in MALFORMED]
)
def test_malformed_variable(
    on_env: dict[str, str], receiver: OTLPReceiver, variables: dict[str, str]
) -> None:
    on_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    on_env.update(variables)
    assert_unaffected(run_program('lazyotel.bootstrap("fault-demo")', on_env), warned=None)


# -- secrets -----------------------------------------------------------------------------------------

SECRETS = ("TOPSECRET1", "TOPSECRET2", "TOPSECRET3", "TOPSECRET4")
SECRET_HEADERS = (
    "authorization=Bearer%20TOPSECRET1,x-broken-TOPSECRET2,x-api-key=TOPSECRET3,=TOPSECRET4,x-tenant=7"
)


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_secret_in_otel_exporter_otlp_headers_never_reaches_the_logs(
    on_env: dict[str, str], level: str, protocol: str
) -> None:
    """A malformed item next to real credentials: the good ones are sent, none is ever logged."""
    with OTLPReceiver(protocol=protocol) as ok:
        on_env["OTEL_EXPORTER_OTLP_HEADERS"] = SECRET_HEADERS
        on_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # the spans must arrive, however loaded the machine
        setup = f'lazyotel.bootstrap("fault-demo", endpoint={ok.endpoint!r}, protocol={protocol!r})'
        child = run_program(setup, on_env, level=level)
        exports = ok.exports
    assert (child.stdout, child.returncode) == (EXPECTED_STDOUT, EXPECTED_CODE), child.stderr
    assert len(lazyotel_warnings(child)) <= 1
    for secret in SECRETS:
        assert secret not in child.stderr
    assert exports, "the spans should still arrive"
    assert exports[0].headers["x-api-key"] == "TOPSECRET3"
    assert exports[0].headers["authorization"] == "Bearer TOPSECRET1"


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
def test_secret_headers_argument_and_url_credentials_never_reach_the_logs(
    on_env: dict[str, str], level: str
) -> None:
    """A dead collector whose URL carries a password, credentials in ``headers=``: never logged."""
    port = refused_endpoint().rsplit(":", 1)[1]
    setup = f"""
lazyotel.bootstrap(
    "fault-demo",
    endpoint="http://user:TOPSECRET1@127.0.0.1:{port}/v1/traces?token=TOPSECRET2",
    headers={{"authorization": "Bearer TOPSECRET3"}},
)
"""
    child = run_program(setup, reported(on_env), level=level)
    assert (child.stdout, child.returncode) == (EXPECTED_STDOUT, EXPECTED_CODE), child.stderr
    assert len(lazyotel_warnings(child)) == 1
    for secret in SECRETS:
        assert secret not in child.stderr
