"""Hand-off records with lazyotel's recorder: a traced command never imports the OpenTelemetry SDK.

Real subprocesses, the real receiver, a spool of the test's own and the real shipper. The
differential proof (hand-off vs inline, field by field at the receiver) is
tests/test_handoff.py::test_handoff_and_inline_deliver_identical_spans; forked and
``multiprocessing`` workers: tests/test_handoff.py::test_every_worker_span_reaches_the_spool.
"""

from __future__ import annotations

import test_handoff
from _child import lazyotel_warnings, run_child
from test_handoff import ship_wait

from lazyotel._receiver import OTLPReceiver

#: The hand-off fixtures: a spool of the test's own (no shipper left running afterwards), used by env.
spool = test_handoff.spool
env = test_handoff.env


#: What a command recording with the recorder never imports (the shipper does).
SDK_MODULES = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "requests",
    "urllib3",
    "grpc",
    "google.protobuf",
)

CHECK_MODULES = """
import atexit
import sys

def check_modules():  # registered first, so it runs last: after lazyotel's exit hook
    loaded = sorted({m.split(".")[0] + "." + m.split(".")[1] if m.count(".") else m
                     for m in sys.modules if m.startswith(__MODULES__)})
    sys.stderr.write(f"SDK-MODULES {loaded}\\n")

atexit.register(check_modules)
""".replace("__MODULES__", repr(SDK_MODULES))

CLI = (
    CHECK_MODULES
    + """
import lazyotel

lazyotel.bootstrap("wire-cli", resource_attributes={"deployment.environment": "ci"})
tracer = lazyotel.get_tracer("wire.test", "1.2")

@lazyotel.trace_command
def main(n=2):
    for i in range(n):
        with tracer.start_as_current_span(f"step-{i}") as span:
            span.set_attribute("i", i)
            span.set_attribute("tags", ["a", "b"])
    try:
        with tracer.start_as_current_span("fails"):
            raise ValueError("no such item")
    except ValueError:
        pass
    print("result")

main()
"""
)


def _modules(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("SDK-MODULES "))


def test_a_traced_handoff_command_imports_no_sdk_and_its_spans_arrive(env: dict[str, str]) -> None:
    env["LAZYOTEL_LOG"] = "debug"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        assert child.stdout == "result\n"
        assert _modules(child.stderr) == "SDK-MODULES []", child.stderr
        assert "lazyotel's recorder records this run" in child.stderr
        assert lazyotel_warnings(child) == []
        assert ship_wait(env).returncode == 0
        spans = {span.name: span for span in receiver.wait_for(4, timeout=30)}
    assert sorted(spans) == ["cli.main", "fails", "step-0", "step-1"]
    main = spans["cli.main"]
    assert main.parent_span_id is None
    assert {s.parent_span_id for n, s in spans.items() if n != "cli.main"} == {main.span_id}
    assert {s.trace_id for s in spans.values()} == {main.trace_id}
    assert spans["step-1"].attributes == {"i": 1, "tags": ["a", "b"]}
    assert spans["step-1"].scope == "wire.test"
    fails = spans["fails"]
    assert (fails.status_code, fails.status_message) == ("ERROR", "ValueError: no such item")
    (event,) = fails.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "no such item"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    resource = main.resource
    assert resource["service.name"] == "wire-cli"
    assert resource["deployment.environment"] == "ci"
    assert resource["telemetry.sdk.name"] == "lazyotel"


def test_an_unsupported_configuration_records_with_the_sdk_and_still_delivers(env: dict[str, str]) -> None:
    env["LAZYOTEL_LOG"] = "debug"
    env["OTEL_PYTHON_ID_GENERATOR"] = "random"  # an entry point: only the SDK loads those
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        assert "opentelemetry.sdk" in _modules(child.stderr)
        assert "the OpenTelemetry SDK records this run: OTEL_PYTHON_ID_GENERATOR is set" in child.stderr, (
            child.stderr
        )
        assert lazyotel_warnings(child) == []
        assert ship_wait(env).returncode == 0
        spans = receiver.wait_for(4, timeout=30)
    assert sorted(s.name for s in spans) == ["cli.main", "fails", "step-0", "step-1"]
    assert {s.resource["telemetry.sdk.name"] for s in spans} == {"opentelemetry"}


RECONFIGURE = (
    CHECK_MODULES
    + """
import sys

import lazyotel

first, second = sys.argv[1:3]
lazyotel.bootstrap("before-cli", endpoint=first)
tracer = lazyotel.get_tracer("wire.test")
with tracer.start_as_current_span("before"):
    pass
lazyotel.reconfigure(endpoint=second)
with tracer.start_as_current_span("after-endpoint"):
    pass
lazyotel.bootstrap("after-cli", endpoint=second)  # a new resource: a new provider
with tracer.start_as_current_span("after-resource"):
    pass
"""
)


def test_reconfigure_after_activation_moves_later_spans(env: dict[str, str]) -> None:
    with OTLPReceiver() as first, OTLPReceiver() as second:
        child = run_child(RECONFIGURE, env, first.endpoint, second.endpoint)
        assert child.returncode == 0, child.stderr
        assert _modules(child.stderr) == "SDK-MODULES []", child.stderr
        assert lazyotel_warnings(child) == []
        assert ship_wait(env).returncode == 0
        second_spans = {s.name: s for s in second.wait_for(2, timeout=30)}
        first_spans = first.wait_for(1, timeout=30)
    assert [s.name for s in first_spans] == ["before"]
    assert first_spans[0].resource["service.name"] == "before-cli"
    assert sorted(second_spans) == ["after-endpoint", "after-resource"]
    assert second_spans["after-endpoint"].resource["service.name"] == "before-cli"
    assert second_spans["after-resource"].resource["service.name"] == "after-cli"


TO_CONSOLE = (
    CHECK_MODULES
    + """
import sys

import lazyotel

lazyotel.bootstrap("console-cli", endpoint=sys.argv[1])
tracer = lazyotel.get_tracer("wire.test")
with tracer.start_as_current_span("recorded"):
    pass
lazyotel.reconfigure(exporter="console")  # an exporter in the command: the SDK's work
with tracer.start_as_current_span("on-the-console"):
    pass
"""
)


def test_reconfigure_to_an_inline_exporter_hands_the_rest_of_the_run_to_the_sdk(env: dict[str, str]) -> None:
    with OTLPReceiver() as receiver:
        child = run_child(TO_CONSOLE, env, receiver.endpoint)
        assert child.returncode == 0, child.stderr
        assert "opentelemetry.sdk" in _modules(child.stderr)
        assert '"name": "on-the-console"' in child.stderr
        assert lazyotel_warnings(child) == []
        assert ship_wait(env).returncode == 0
        spans = receiver.wait_for(1, timeout=30)
    assert [s.name for s in spans] == ["recorded"]


BAD_ATTRIBUTE = (
    CHECK_MODULES
    + """
import lazyotel

lazyotel.bootstrap("bad-cli")

@lazyotel.trace_command
def main():
    with lazyotel.get_tracer("wire.test").start_as_current_span("bad") as span:
        span.set_attribute("bad", object())  # the API logs "Invalid type" on its own logger

main()
"""
)


def test_what_the_api_logs_under_the_recorder_is_one_lazyotel_warning(env: dict[str, str]) -> None:
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(BAD_ATTRIBUTE, env)
        assert child.returncode == 0, child.stderr
        assert _modules(child.stderr) == "SDK-MODULES []", child.stderr
        (warning,) = lazyotel_warnings(child)  # none from the opentelemetry logger itself
        assert "OpenTelemetry reported a problem (Invalid type" in warning
        assert ship_wait(env).returncode == 0
        spans = receiver.wait_for(2, timeout=30)
    assert sorted(s.name for s in spans) == ["bad", "cli.main"]
