"""End to end: spans from a fresh interpreter reach a real OTLP receiver on 127.0.0.1.

Also: configuration from arguments and OTEL_* variables, reconfigure(), bootstrap() after
activation, and a provider someone else installed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator

import pytest
from _child import lazyotel_warnings, run_child

from lazyotel._receiver import OTLPReceiver


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """Telemetry on, and a generous exit deadline: these tests check what arrives, not speed.

    (Under CPU load a short command can spend its whole default 1 s building the exporter.)
    """
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"
    return subprocess_env


@pytest.fixture(params=["http/protobuf", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    if request.param == "grpc" and importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is None:
        pytest.skip("the OTLP/gRPC exporter is not installed (the lowest-versions run has HTTP only)")
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def receiver(protocol: str) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(protocol=protocol) as running:
        yield running


def run_ok(code: str, env: dict[str, str]) -> None:
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    assert child.warnings == [], child.stderr
    assert child.other_stderr == [], child.stderr


def test_span_arrives_with_name_service_resource_and_headers(
    on_env: dict[str, str], protocol: str, receiver: OTLPReceiver
) -> None:
    on_env["OTEL_RESOURCE_ATTRIBUTES"] = "region=eu-west,team=from-env"
    code = f"""
import lazyotel
lazyotel.bootstrap(
    "shop-cli",
    endpoint={receiver.endpoint!r},
    protocol={protocol!r},
    headers={{"x-api-key": "k-1"}},
    resource_attributes={{"deployment.environment": "ci", "team": "from-code"}},
)
tracer = lazyotel.get_tracer("shop.commands", "2.0")
with tracer.start_as_current_span("cli.deploy", attributes={{"cli.command": "deploy", "n": 3}}):
    with tracer.start_as_current_span("upload"):
        pass
"""
    run_ok(code, on_env)
    spans = {span.name: span for span in receiver.wait_for(2)}
    assert sorted(spans) == ["cli.deploy", "upload"]
    deploy, upload = spans["cli.deploy"], spans["upload"]
    assert deploy.attributes == {"cli.command": "deploy", "n": 3}
    assert deploy.scope == "shop.commands"
    assert upload.parent_span_id == deploy.span_id
    assert upload.trace_id == deploy.trace_id
    resource = deploy.resource
    assert resource["service.name"] == "shop-cli"
    assert resource["deployment.environment"] == "ci"
    assert resource["region"] == "eu-west"  # OTEL_RESOURCE_ATTRIBUTES fills in
    assert resource["team"] == "from-code"  # the argument wins
    assert resource["telemetry.sdk.name"] == "opentelemetry"
    assert all(export.headers["x-api-key"] == "k-1" for export in receiver.exports)


def test_configuration_from_otel_variables_only(
    on_env: dict[str, str], protocol: str, receiver: OTLPReceiver
) -> None:
    on_env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": "env-service",
            "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=tools",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20t0k",
        }
    )
    code = """
import lazyotel
lazyotel.bootstrap()
with lazyotel.get_tracer("x").start_as_current_span("from-env"):
    pass
"""
    run_ok(code, on_env)
    (span,) = receiver.wait_for(1)
    assert span.name == "from-env"
    assert span.resource["service.name"] == "env-service"
    assert span.resource["service.namespace"] == "tools"
    assert receiver.exports[0].headers["authorization"] == "Bearer t0k"


@pytest.mark.parametrize("protocol", ["http/protobuf"], indirect=True)
@pytest.mark.parametrize("suffix", ["", "/"])  # "/v1/traces": test_hardening_config
def test_http_endpoint_gets_the_signal_path_once(
    on_env: dict[str, str], receiver: OTLPReceiver, suffix: str
) -> None:
    code = f"""
import lazyotel
lazyotel.bootstrap("svc", endpoint={receiver.endpoint + suffix!r})
with lazyotel.get_tracer("x").start_as_current_span("path"):
    pass
"""
    run_ok(code, on_env)
    assert receiver.wait_for(1)[0].name == "path"


@pytest.mark.parametrize("protocol", ["http/protobuf"], indirect=True)
def test_signal_specific_endpoint_variable_is_used_as_is(
    on_env: dict[str, str], receiver: OTLPReceiver
) -> None:
    on_env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.traces_url
    on_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # ignored: the traces one wins
    code = """
import lazyotel
lazyotel.bootstrap("svc")
with lazyotel.get_tracer("x").start_as_current_span("specific"):
    pass
"""
    run_ok(code, on_env)
    assert receiver.wait_for(1)[0].name == "specific"


def test_ten_thousand_spans_arrive_none_lost(
    on_env: dict[str, str], protocol: str, receiver: OTLPReceiver
) -> None:
    """More than the SDK's default queue (2,048) in one burst: the queue is sized for it.

    ``LAZYOTEL_FLUSH_TIMEOUT=20`` (``on_env``) wins over ``flush_timeout=1.0``: this checks that
    nothing is dropped, not speed (with the default 1 s, the exit flush of 10,000 spans takes
    about 0.6-0.9 s on an idle 2-core box).
    """
    code = f"""
import lazyotel
lazyotel.bootstrap("bulk", endpoint={receiver.endpoint!r}, protocol={protocol!r}, flush_timeout=1.0)
tracer = lazyotel.get_tracer("bulk")
for i in range(10_000):
    with tracer.start_as_current_span("item") as span:
        span.set_attribute("i", i)
"""
    run_ok(code, on_env)
    spans = receiver.wait_for(10_000, timeout=30)
    assert len(spans) == 10_000
    assert sorted(span.attributes["i"] for span in spans) == list(range(10_000))


def test_console_exporter_writes_to_stderr_never_stdout(on_env: dict[str, str]) -> None:
    code = """
import lazyotel
lazyotel.bootstrap("svc", exporter="console")
with lazyotel.get_tracer("x").start_as_current_span("to-console"):
    print("output")
"""
    child = run_child(code, on_env)
    assert (child.returncode, child.stdout) == (0, "output\n"), child.stderr
    assert '"name": "to-console"' in child.stderr


# -- reconfigure ------------------------------------------------------------------------------------

SWAP = """
import lazyotel
from opentelemetry import trace as otel_trace  # a plain OpenTelemetry user of the global provider

MODULE_TRACER = lazyotel.get_tracer("module.level")  # created before bootstrap, at import time
lazyotel.bootstrap("swap", endpoint={first!r}, protocol={protocol!r})

def span(name):
    with MODULE_TRACER.start_as_current_span(name):
        pass

span("first-1")
otel_tracer = otel_trace.get_tracer("plain.otel")  # handed out after activation
with otel_tracer.start_as_current_span("first-2"):
    pass
lazyotel.reconfigure(endpoint={second!r})
span("second-1")
with otel_tracer.start_as_current_span("second-2"):
    pass
"""


def test_reconfigure_sends_later_spans_only_to_the_new_collector(
    on_env: dict[str, str], protocol: str
) -> None:
    """Module-level lazyotel tracers and plain OpenTelemetry tracers both follow the swap."""
    with OTLPReceiver(protocol=protocol) as first, OTLPReceiver(protocol=protocol) as second:
        run_ok(SWAP.format(first=first.endpoint, second=second.endpoint, protocol=protocol), on_env)
        assert sorted(span.name for span in second.wait_for(2)) == ["second-1", "second-2"]
        assert sorted(first.names()) == ["first-1", "first-2"]


def test_reconfigure_before_activation_only_changes_the_configuration(on_env: dict[str, str]) -> None:
    with OTLPReceiver() as first, OTLPReceiver() as second:
        code = f"""
import lazyotel
from lazyotel._provider import RUNTIME
lazyotel.bootstrap("swap", endpoint={first.endpoint!r})
lazyotel.reconfigure(endpoint={second.endpoint!r})
assert not RUNTIME.activated
with lazyotel.get_tracer("x").start_as_current_span("only-second"):
    pass
"""
        run_ok(code, on_env)
        assert second.wait_for(1)[0].name == "only-second"
        assert first.spans == []


def test_bootstrap_after_activation_behaves_like_reconfigure(on_env: dict[str, str]) -> None:
    """A new service name or endpoint applies to the spans that follow."""
    with OTLPReceiver() as first, OTLPReceiver() as second:
        code = f"""
import lazyotel
tracer = lazyotel.get_tracer("x")
lazyotel.bootstrap("one", endpoint={first.endpoint!r})
with tracer.start_as_current_span("a"):
    pass
lazyotel.bootstrap("two", endpoint={second.endpoint!r})
with tracer.start_as_current_span("b"):
    pass
"""
        run_ok(code, on_env)
        (b,) = second.wait_for(1)
        (a,) = first.wait_for(1)
    assert (a.name, a.resource["service.name"]) == ("a", "one")
    assert (b.name, b.resource["service.name"]) == ("b", "two")


def test_reconfigure_shuts_the_old_exporter_down_within_the_deadline(on_env: dict[str, str]) -> None:
    """Swapping away from a hung collector waits at most flush_timeout."""
    del on_env["LAZYOTEL_FLUSH_TIMEOUT"]
    with OTLPReceiver(behaviour="silent") as hung, OTLPReceiver() as good:
        code = f"""
import time
import lazyotel
tracer = lazyotel.get_tracer("x")
lazyotel.bootstrap("swap", endpoint={hung.endpoint!r}, flush_timeout=0.3)
with tracer.start_as_current_span("lost"):
    pass
started = time.monotonic()
lazyotel.reconfigure(endpoint={good.endpoint!r})
print(round(time.monotonic() - started, 3))
with tracer.start_as_current_span("kept"):
    pass
lazyotel.flush(20.0)  # arrival must not depend on how loaded the machine is at exit
"""
        child = run_child(code, on_env)
        assert child.returncode == 0, child.stderr
        assert float(child.stdout) < 0.3 + 3.0
        assert good.wait_for(1)[0].name == "kept"


# -- someone else's provider ----------------------------------------------------------------------


def test_a_provider_installed_by_someone_else_is_used_untouched(on_env: dict[str, str]) -> None:
    """No override, no warning, nothing sent to lazyotel's endpoint, no exit handler of ours."""
    with OTLPReceiver() as ours:
        code = f"""
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
theirs = TracerProvider(shutdown_on_exit=False)
theirs.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(theirs)

import lazyotel
from lazyotel._provider import RUNTIME
lazyotel.bootstrap("ours", endpoint={ours.endpoint!r})
with lazyotel.get_tracer("x").start_as_current_span("into-theirs"):
    pass
lazyotel.flush(5.0)
print(json.dumps({{
    "names": [s.name for s in exporter.get_finished_spans()],
    "global_is_theirs": trace.get_tracer_provider() is theirs,
    "own": RUNTIME.own is not None,
    "exit_registered": RUNTIME.exit_registered,
}}))
"""
        child = run_child(code, on_env)
        assert child.returncode == 0, child.stderr
        assert json.loads(child.stdout) == {
            "names": ["into-theirs"],
            "global_is_theirs": True,
            "own": False,
            "exit_registered": False,
        }
        assert lazyotel_warnings(child) == []
        assert child.other_stderr == []
        assert ours.spans == []


def test_lazyotels_provider_is_the_global_one_and_the_sdk_exit_handler_is_not_registered(
    on_env: dict[str, str],
) -> None:
    code = """
import atexit, json
import lazyotel
from lazyotel._provider import RUNTIME
lazyotel.bootstrap("svc", exporter="none")
with lazyotel.get_tracer("x").start_as_current_span("s"):
    pass
from opentelemetry import trace
from lazyotel._follow import PROVIDER
print(json.dumps({
    "global_is_lazyotel": trace.get_tracer_provider() is PROVIDER,
    "sdk_atexit_handler": RUNTIME.own._atexit_handler is not None,
    "exit_registered": RUNTIME.exit_registered,
}))
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {
        "global_is_lazyotel": True,
        "sdk_atexit_handler": False,
        "exit_registered": True,
    }
