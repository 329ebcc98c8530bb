"""Recording without OpenTelemetry (``lazyotel._lite``) and the promotion to the API.

Two halves:
- a differential test: hypothesis workloads (the recorder's, tests/test_recorder_diff.py, less
  what needs OpenTelemetry's context: explicit parents, links, ``inject``) run through
  ``_lite`` and through the SDK, both encoded by lazyotel's spool encoder, field by field;
- real subprocesses, the real receiver and the real shipper: a traced command imports nothing
  of OpenTelemetry, ``logging`` or ``json``; when something does import OpenTelemetry
  mid-command, what starts after is the child of what was current.
"""

from __future__ import annotations

import contextvars
import json
import threading
from typing import Any

import pytest
import test_handoff
import test_recorder_diff as diff
from _child import Child, lazyotel_warnings, run_child
from _http import HeaderServer
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_handoff import ship_wait

from lazyotel import _lite, _otlpjson
from lazyotel._receiver import OTLPReceiver

spool = test_handoff.spool
env = test_handoff.env


# -- the differential test ------------------------------------------------------------------------


class LiteRun(diff.Run):
    """The recorder's workload runner, with ``_lite``'s context where the API's would be."""

    def span(self, node: dict[str, Any]) -> None:
        if node["how"] == "manual":
            node = {**node, "how": "use"}
        if node["how"] != "use":
            super().span(node)
            return
        kwargs = {
            "kind": node["kind"],
            "attributes": node["attributes"],
            "record_exception": node["record_exception"],
            "set_status_on_exception": node["set_status_on_exception"],
        }
        if node["start_time"] is not None:
            kwargs["start_time"] = node["start_time"]
        span = self.tracer.start_span(node["name"], **kwargs)
        try:
            with self.use(span):
                self.body(span, node)
        except BaseException as caught:
            self.seen.append(("raised", type(caught).__name__))
        span.end(node["end_time"])
        self.seen.append(("recording after end", span.is_recording()))
        for op in node["after"]:
            self.op(span, op)

    def use(self, span: Any) -> Any:
        if isinstance(span, _lite.SPAN_TYPES):
            return _lite.UseSpan(span, False, True, True)
        return trace_api.use_span(span)

    def body(self, span: Any, node: dict[str, Any]) -> None:
        self.started.append(span)
        context = _lite.context_of(span)
        dropped = not span.is_recording()
        self.seen.append((dropped, span.is_recording(), int(context.trace_flags)))
        for op in node["ops"]:
            self.op(span, op)


def _without_context(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` less what needs OpenTelemetry's context (lite records before anything does)."""
    ops = [op for op in node["ops"] if op[0] not in ("link", "links", "inject")]
    ops = [("child", _without_context(op[1])) if op[0] == "child" else op for op in ops]
    after = [op for op in node["after"] if op[0] not in ("link", "links", "inject", "child")]
    how = "use" if node["how"] == "manual" else node["how"]
    return {**node, "parent": ("inherit",), "links": [], "ops": ops, "after": after, "how": how}


def _run(tracer: Any, nodes: list[dict[str, Any]]) -> list[Any]:
    run = LiteRun(tracer)
    for node in nodes:
        run.span(node)
    return run.seen


def _encoded(spans: list[Any]) -> Any:
    resource_spans, _ = _otlpjson.encode_request(spans)
    for item in resource_spans:
        # lazyotel always sets a random service.instance.id, as SDK 1.4x does (older SDKs set none).
        attributes = [a for a in item["resource"]["attributes"] if a["key"] != "service.instance.id"]
        item["resource"]["attributes"] = attributes
        for attribute in attributes:
            if attribute["key"] in ("telemetry.sdk.name", "telemetry.sdk.version"):
                attribute["value"] = "<differs by design>"
        for scope in item["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    span[key] = diff._time(span.get(key))
                for event in span.get("events", []):
                    event["timeUnixNano"] = diff._time(event.get("timeUnixNano"))
                    for attribute in event["attributes"]:
                        if attribute["key"] == "exception.stacktrace":
                            attribute["value"] = "<frames differ>"
    return resource_spans


def run_both(nodes: list[dict[str, Any]], *, seed: int, sampler: Any, environ: Any = None) -> Any:
    nodes = [_without_context(node) for node in nodes]
    variables = {"OTEL_TRACES_SAMPLER": sampler[0], **(environ or {})}
    if sampler[1] is not None:
        variables["OTEL_TRACES_SAMPLER_ARG"] = str(sampler[1])
    with diff.patched_environ(variables):
        exporter = InMemorySpanExporter()
        sdk = TracerProvider(
            sampler=diff.sdk_sampler(*sampler),
            resource=Resource.create({"service.name": "svc"}),
            shutdown_on_exit=False,
            id_generator=diff.FixedIds(seed),
            span_limits=SpanLimits(),
        )
        sdk.add_span_processor(SimpleSpanProcessor(exporter))
        recorded: list[Any] = []
        mine = _lite.Provider(
            lambda span, parent: None,
            recorded.append,
            resource=_lite.build_resource({"service.name": "svc"}, version="0"),
        )
        mine._ids = diff.FixedIds(seed)  # type: ignore[assignment]
        mine._random = 2 if hasattr(trace_api.TraceFlags, "RANDOM_TRACE_ID") else 0
        sdk_seen = _run(sdk.get_tracer("work", "1.0"), nodes)
        our_seen = _run(mine.get_tracer("work", "1.0"), nodes)
    return (_encoded(recorded), our_seen), (_encoded(list(exporter.get_finished_spans())), sdk_seen)


@pytest.fixture(autouse=True)
def _quiet_api_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL")  # invalid attributes make the API warn, in both runs alike


@diff.SETTINGS
@given(workload=diff.workloads, sampler=diff.samplers, seed=st.integers(0, 2**32))
def test_lite_span_trees_encode_as_the_sdks(workload: list[dict[str, Any]], sampler: Any, seed: int) -> None:
    ours, sdk = run_both(workload, seed=seed, sampler=sampler)
    assert ours == sdk


@diff.SETTINGS
@given(workload=diff.workloads, environ=diff.limit_environments)
def test_lite_limits_from_the_environment_encode_as_the_sdks(
    workload: list[dict[str, Any]], environ: dict[str, str]
) -> None:
    ours, sdk = run_both(workload, seed=7, sampler=("parentbased_always_on", None), environ=environ)
    assert ours == sdk


def test_the_differential_test_sees_a_wrong_attribute() -> None:
    """The comparison is not vacuous: a span that differs in one attribute is told apart."""
    node = diff.plain_node("a", ops=[("attr", "k", "v")])
    ours, sdk = run_both([node], seed=1, sampler=("parentbased_always_on", None))
    assert ours == sdk
    ours[0][0]["scopeSpans"][0]["spans"][0]["attributes"][0]["value"] = {"stringValue": "w"}
    assert ours != sdk


def test_an_attribute_set_again_moves_to_the_end_as_the_apis_do() -> None:
    one = diff.plain_node("one", ops=[("attr", "k", 1), ("attr", "j", 2), ("attr", "k", 3)])
    many = diff.plain_node("many", ops=[("attrs", {"k": 1, "j": 2}), ("attrs", {"x": 3, "k": 4})])
    ours, sdk = run_both([one, many], seed=1, sampler=("parentbased_always_on", None))
    assert ours == sdk
    spans = ours[0][0]["scopeSpans"][0]["spans"]
    assert [[item["key"] for item in span["attributes"]] for span in spans] == [["j", "k"], ["j", "x", "k"]]


def test_thirty_two_threads_record_whole_spans() -> None:
    recorded: list[Any] = []
    lock = threading.Lock()

    def sink(span: Any) -> None:
        with lock:
            recorded.append(span)

    provider = _lite.Provider(lambda s, p: None, sink, resource=_lite.build_resource(None, version="0"))
    tracer = provider.get_tracer("threads")
    start = threading.Barrier(32)

    def work(n: int) -> None:
        start.wait()
        for i in range(50):
            with tracer.start_as_current_span(f"t{n}") as outer:
                outer.set_attribute("n", n)
                with tracer.start_as_current_span(f"t{n}-inner") as inner:
                    inner.set_attribute("i", i)
                    inner.add_event("e", {"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorded) == 32 * 50 * 2
    by_id = {span.context.span_id: span for span in recorded}
    assert len(by_id) == len(recorded)  # no id drawn twice, no span lost
    for span in recorded:
        if span.name.endswith("-inner"):
            parent = by_id[span.parent.span_id]
            assert parent.name == span.name[: -len("-inner")]
            assert parent.context.trace_id == span.context.trace_id
            assert dict(span.attributes).keys() == {"i"}
            assert [e.attributes["i"] for e in span.events] == [span.attributes["i"]]
        else:
            assert span.parent is None
            assert dict(span.attributes) == {"n": int(span.name[1:])}


# -- real processes ---------------------------------------------------------------------------------

CHECK = """
import atexit, sys

def check():  # registered first, so it runs last: after lazyotel's exit hook
    sys.stderr.write("MODULES " + repr(sorted(m for m in sys.modules
                     if m.split(".")[0] in ("opentelemetry", "logging", "json", "wrapt")
                     or m.startswith("opentelemetry"))) + "\\n")

atexit.register(check)
"""

TYPER_APP = (
    CHECK
    + """
import typer

import lazyotel

lazyotel.bootstrap("lite-cli")
tracer = lazyotel.get_tracer("lite.test", "1.0")
app = typer.Typer(add_completion=False)


@app.command()
@lazyotel.trace_command
def fetch(name: str = "world", count: int = 3) -> None:
    for index in range(count):
        with tracer.start_as_current_span(f"step{index}") as span:
            span.set_attribute("index", index)
            span.set_attribute("tags", ["a", "b"])
    if name == "fail":
        raise SystemExit(4)


app()
"""
)


def _modules(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if line.startswith("MODULES "))
    return eval(line[len("MODULES ") :])


def test_a_traced_typer_command_imports_nothing_of_opentelemetry_and_its_spans_arrive(
    env: dict[str, str],
) -> None:
    pytest.importorskip("typer")  # not installed in the other interpreters' environments
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(TYPER_APP, env, "--name", "fail", level=None)
        assert child.returncode == 4, child.stderr
        assert _modules(child.stderr) == [], child.stderr  # no opentelemetry, logging, json, wrapt
        assert ship_wait(env).returncode == 0
        spans = {span.name: span for span in receiver.wait_for(4, timeout=30)}
    assert sorted(spans) == ["cli.fetch", "step0", "step1", "step2"]
    command = spans["cli.fetch"]
    assert command.parent_span_id is None
    assert command.status_code == "ERROR"
    assert command.status_message == "exit code 4"
    assert command.attributes["process.exit.code"] == 4
    assert command.attributes["cli.args"] == '{"args": [], "kwargs": {"name": "fail", "count": 3}}'
    assert command.resource["telemetry.sdk.name"] == "lazyotel"
    assert command.resource["service.name"] == "lite-cli"
    for index in range(3):
        step = spans[f"step{index}"]
        assert step.parent_span_id == command.span_id
        assert step.trace_id == command.trace_id
        assert step.attributes == {"index": index, "tags": ["a", "b"]}
        assert step.scope == "lite.test"


def test_traceparent_is_adopted_and_passed_on_without_opentelemetry(env: dict[str, str]) -> None:
    code = (
        CHECK
        + """
import os, subprocess, sys
import lazyotel

lazyotel.bootstrap("lite-cli")

@lazyotel.trace_command
def main():
    out = subprocess.run([sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"],
                         capture_output=True, text=True, check=True).stdout
    print(out.strip())

main()
"""
    )
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    env["TRACEPARENT"] = parent
    env["TRACESTATE"] = "congo=t61rcWkgMzE"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(code, env, level=None)
        assert child.returncode == 0, child.stderr
        if _lite.ApiTraits.get()[1]:
            assert _modules(child.stderr) == [], child.stderr
        else:  # an older API reads tracestate by other rules: its own propagator decides
            assert "opentelemetry.trace" in _modules(child.stderr)
        assert ship_wait(env).returncode == 0
        (span,) = receiver.wait_for(1, timeout=30)
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id == "b7ad6b7169203331"
    assert child.stdout.strip() == f"00-{span.trace_id}-{span.span_id}-01"


PROMOTING = """
import sys
import lazyotel

lazyotel.bootstrap("lite-cli")
tracer = lazyotel.get_tracer("lite.test")

@lazyotel.trace_command
def main():
    with tracer.start_as_current_span("before") as before:
        assert "opentelemetry" not in sys.modules
        from opentelemetry import trace  # user code needs OpenTelemetry: the run is promoted

        current = trace.get_current_span()
        print("current", format(current.get_span_context().span_id, "016x"))
        assert isinstance(current, trace.Span)
        with trace.get_tracer("user.code").start_as_current_span("user") as user:
            with tracer.start_as_current_span("after") as after:
                after.set_attribute("k", "v")
    with tracer.start_as_current_span("sibling"):
        pass

main()
"""


def test_importing_opentelemetry_mid_command_promotes_the_run_and_keeps_the_tree(
    env: dict[str, str],
) -> None:
    env["LAZYOTEL_LOG"] = "debug"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(PROMOTING, env)
        assert child.returncode == 0, child.stderr
        assert "lazyotel's recorder goes on, on its API" in child.stderr
        assert lazyotel_warnings(child) == []
        assert ship_wait(env).returncode == 0
        received = receiver.wait_for(5, timeout=30)
        spans = {span.name: span for span in received}
    assert len(received) == 5, [(s.name, s.span_id) for s in received]
    assert sorted(spans) == ["after", "before", "cli.main", "sibling", "user"]
    main, before, user, after = spans["cli.main"], spans["before"], spans["user"], spans["after"]
    assert child.stdout.split() == ["current", before.span_id]
    assert before.parent_span_id == main.span_id
    assert user.parent_span_id == before.span_id
    assert user.scope == "user.code"
    assert after.parent_span_id == user.span_id
    assert spans["sibling"].parent_span_id == main.span_id
    assert {span.trace_id for span in spans.values()} == {main.trace_id}
    assert {span.resource["service.instance.id"] for span in spans.values()} == {
        main.resource["service.instance.id"]
    }


def test_a_span_asked_for_its_api_context_promotes_the_run(env: dict[str, str]) -> None:
    code = """
import sys
import lazyotel

lazyotel.bootstrap("lite-cli")

tracer = lazyotel.get_tracer("lite.test")
with tracer.start_as_current_span("outer") as outer:
    assert "opentelemetry.trace" not in sys.modules
    context = outer.get_span_context()
    from opentelemetry import trace
    print(type(context).__module__, trace.get_current_span().get_span_context() == context)
"""
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(code, env)
        assert child.returncode == 0, child.stderr
        assert child.stdout.split() == ["opentelemetry.trace.span", "True"]
        assert ship_wait(env).returncode == 0
        (span,) = receiver.wait_for(1, timeout=30)
    assert span.name == "outer"


def test_an_attribute_the_fast_path_cannot_keep_takes_the_apis_rules_without_promoting(
    env: dict[str, str],
) -> None:
    code = (
        CHECK
        + """
import lazyotel

lazyotel.bootstrap("lite-cli")
with lazyotel.get_tracer("lite.test").start_as_current_span("odd") as span:
    span.set_attribute("mixed", [1, "a"])
    span.set_attribute("ints", (1, 2))
    span.set_attribute("plain", "text")
"""
    )
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(code, env, level=None)
        assert child.returncode == 0, child.stderr
        loaded = _modules(child.stderr)
        assert "opentelemetry.attributes" in loaded
        assert "opentelemetry.trace" not in loaded
        assert "opentelemetry.context" not in loaded
        assert ship_wait(env).returncode == 0
        (span,) = receiver.wait_for(1, timeout=30)
    kept = dict(BoundedAttributes(attributes={"mixed": [1, "a"]}))  # the installed API's rule
    assert span.attributes.get("mixed") == (list(kept["mixed"]) if "mixed" in kept else None)
    assert span.attributes["ints"] == [1, 2]
    assert span.attributes["plain"] == "text"


# -- httpx: lazyotel's own spans while the recorder records ------------------------------------------

HTTPX_CLI = (
    CHECK
    + """
import sys
import lazyotel
if sys.argv[2] == "top":
    import httpx

lazyotel.bootstrap("lite-cli", instrument=["httpx"])

@lazyotel.trace_command
def main(url):
    import httpx  # where it is not imported yet: the import instruments it

    with httpx.Client() as client:
        print(client.get(url).status_code, client.get(url.rsplit("/", 1)[0] + "/fail").status_code)

main(sys.argv[1])
"""
)


def _received(
    env: dict[str, str], delivery: str, server: HeaderServer, where: str
) -> tuple[Child, list[Any]]:
    env = {**env, "LAZYOTEL_DELIVERY": delivery}
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(HTTPX_CLI, env, server.url, where, level=None)
        assert child.returncode == 0, child.stderr
        if delivery == "handoff":
            assert ship_wait(env).returncode == 0
        return child, receiver.wait_for(3, timeout=30)


@pytest.mark.parametrize("where", ["top", "in the command"])
def test_httpx_requests_are_traced_without_opentelemetry_as_the_contrib_traces_them(
    env: dict[str, str], where: str
) -> None:
    """Hand-off (``_lite`` + ``_httpx``) against inline (the SDK + opentelemetry-instrumentation-httpx),
    field by field at the receiver, and the headers the server received."""
    pytest.importorskip("opentelemetry.instrumentation.httpx")  # not in the other interpreters' venvs
    server = HeaderServer()
    try:
        ours, lite_spans = _received(env, "handoff", server, where)
        lite_headers, server.received[:] = list(server.received), []
        theirs, sdk_spans = _received(env, "inline", server, where)
        sdk_headers = list(server.received)
    finally:
        server.close()
    assert ours.stdout == theirs.stdout == "200 500\n"
    # httpx imports logging and json itself; nothing of OpenTelemetry, no wrapt.
    assert [
        m for m in _modules(ours.stderr) if m not in ("logging", "json") and not m.startswith("json.")
    ] == []
    assert "opentelemetry.instrumentation.httpx" in _modules(theirs.stderr)

    def shape(spans: list[Any], headers: list[dict[str, str]]) -> list[Any]:
        by_id = {span.span_id: span for span in spans}
        out = []
        for span in sorted(spans, key=lambda s: s.start_ns):
            parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
            if span.kind == "CLIENT":  # ports and the server's address differ run to run
                attributes: Any = {
                    k: v.replace(server.base, "<server>") if isinstance(v, str) else v
                    for k, v in span.attributes.items()
                    if k not in ("net.peer.port", "server.port")
                }
            else:  # the command span: process.pid and the like differ run to run
                attributes = sorted(span.attributes)
            fields = (span.name, span.kind, span.scope, span.status_code, span.status_message)
            out.append((*fields, attributes, parent.name if parent else None))
        for span, sent in zip([s for s in spans if s.kind == "CLIENT"], headers):
            assert sent["traceparent"].split("-")[1:3] == [span.trace_id, span.span_id]
        return out

    assert shape(lite_spans, lite_headers) == shape(sdk_spans, sdk_headers)
    assert [s.kind for s in lite_spans].count("CLIENT") == 2


# -- the promotion elsewhere: other threads and tasks, generators, shutdown, the SDK taking over ----


def _run_tree(env: dict[str, str], code: str, count: int) -> tuple[Child, dict[str, Any]]:
    """Run ``code`` in hand-off mode; its spans by name (names are unique in these tests)."""
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(code, env)
        assert child.returncode == 0, child.stderr
        lazyotel_warnings(child)  # every warning is lazyotel's
        assert ship_wait(env).returncode == 0
        spans = receiver.wait_for(count, timeout=30)
    named = {span.name: span for span in spans}
    assert len(named) == len(spans) == count, [span.name for span in spans]
    return child, named


def test_opentelemetry_imported_by_another_thread_keeps_the_main_threads_tree(env: dict[str, str]) -> None:
    code = """
import threading
import lazyotel

lazyotel.bootstrap("lite-cli")
tracer = lazyotel.get_tracer("lite.test")

@lazyotel.trace_command
def main():
    with tracer.start_as_current_span("outer"):
        thread = threading.Thread(target=lambda: __import__("opentelemetry.trace"))
        thread.start()
        thread.join()
        with tracer.start_as_current_span("inner"):
            from opentelemetry import trace
            with trace.get_tracer("user").start_as_current_span("user"):
                pass

main()
"""
    child, spans = _run_tree(env, code, 4)
    assert child.warnings == []
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["user"].parent_span_id == spans["inner"].span_id
    assert {span.trace_id for span in spans.values()} == {spans["cli.main"].trace_id}


def test_opentelemetry_imported_in_an_asyncio_task_warns_nothing_and_keeps_the_tree(
    env: dict[str, str],
) -> None:
    code = """
import asyncio
import lazyotel

lazyotel.bootstrap("lite-cli")
tracer = lazyotel.get_tracer("lite.test")

async def task():
    from opentelemetry import trace
    with trace.get_tracer("user").start_as_current_span("user-in-task"):
        pass

async def amain():
    await asyncio.create_task(task())
    with tracer.start_as_current_span("after-task"):
        pass

@lazyotel.trace_command
def main():
    asyncio.run(amain())

main()
"""
    child, spans = _run_tree(env, code, 3)
    assert child.warnings == []  # no "Failed to detach context" from a token of another context
    command = spans["cli.main"]
    assert spans["user-in-task"].parent_span_id == command.span_id
    assert spans["after-task"].parent_span_id == command.span_id


def test_a_traced_generator_stays_the_parent_after_the_promotion(env: dict[str, str]) -> None:
    code = """
import lazyotel

lazyotel.bootstrap("lite-cli")

@lazyotel.trace_command
def produce():
    from opentelemetry import trace
    tracer = trace.get_tracer("user")
    with tracer.start_as_current_span("step1"):
        pass
    yield 1
    with tracer.start_as_current_span("step2"):
        pass
    yield 2

print(list(produce()))
"""
    child, spans = _run_tree(env, code, 3)
    assert child.stdout == "[1, 2]\n"
    assert spans["step1"].parent_span_id == spans["cli.produce"].span_id
    assert spans["step2"].parent_span_id == spans["cli.produce"].span_id


def test_importing_opentelemetry_after_shutdown_is_quiet(env: dict[str, str]) -> None:
    code = """
import lazyotel

lazyotel.bootstrap("lite-cli")
with lazyotel.get_tracer("lite.test").start_as_current_span("a"):
    pass
lazyotel.shutdown()
from opentelemetry import trace  # a library imported after the tool shut telemetry down
print("imported")
"""
    child, spans = _run_tree(env, code, 1)
    assert child.stdout == "imported\n"
    assert child.warnings == []
    assert list(spans) == ["a"]


def test_the_sdk_taking_over_mid_command_keeps_the_parents(env: dict[str, str]) -> None:
    code = """
import sys
import lazyotel

lazyotel.bootstrap("lite-cli")
tracer = lazyotel.get_tracer("lite.test")
with tracer.start_as_current_span("outer"):
    lazyotel.reconfigure(exporter="console")  # an exporter in the command: the SDK's work
    with tracer.start_as_current_span("inner"):
        pass
"""
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    spans = {span["name"]: span for span in map(json.loads, _console_spans(child.stderr))}
    assert spans["inner"]["parent_id"] is not None, child.stderr


def _console_spans(stdout: str) -> list[str]:
    """The console exporter's JSON objects (lazyotel sends them to stderr), one per span."""
    blocks, depth, start = [], 0, 0
    for index, char in enumerate(stdout):
        if char == "{":
            depth += 1
            if depth == 1:
                start = index
        elif char == "}":
            depth -= 1
            if depth == 0:
                blocks.append(stdout[start : index + 1])
    return blocks


def test_a_span_exited_in_another_context_leaves_that_contexts_current_span() -> None:
    recorded: list[Any] = []
    provider = _lite.Provider(
        lambda s, p: None, recorded.append, resource=_lite.build_resource(None, version="0")
    )
    tracer = provider.get_tracer("contexts")
    inner_a = tracer.start_as_current_span("A-inner")
    contextvars.copy_context().run(inner_a.__enter__)  # made current in context A

    def in_b() -> tuple[Any, Any]:
        with tracer.start_as_current_span("B-own") as own:
            inner_a.__exit__(None, None, None)  # A's span exited here (a generator closed elsewhere)
            child = tracer.start_span("B-child")
            child.end()
            return own, child

    own, child = contextvars.Context().run(in_b)
    assert child.parent.span_id == own.context.span_id


def test_a_bad_lazyotel_log_value_is_reported_without_logging_imported_first(env: dict[str, str]) -> None:
    code = """
import lazyotel

lazyotel.bootstrap("lite-cli")
with lazyotel.get_tracer("lite.test").start_as_current_span("a"):
    pass
"""
    env["LAZYOTEL_LOG"] = "verbose"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    child = run_child(code, env, level=None)
    assert child.returncode == 0, child.stderr
    assert "LAZYOTEL_LOG='verbose' is not one of" in child.stderr


def test_set_attributes_with_values_to_clean_takes_the_installed_sdks_rules() -> None:
    """``set_attributes`` with values to clean, as the installed SDK keeps them (on every
    version: opentelemetry-api 1.41 has no ``BoundedAttributes._set_items``, 1.45 does)."""
    values = {"ids": [1, 2, 3], "none": None, "raw": b"abc", "bad": b"\xff", 3: "key"}
    recorded: list[Any] = []
    with _lite_tracer(recorded).start_as_current_span("a") as span:
        span.set_attributes(values)
    exporter = InMemorySpanExporter()
    sdk = TracerProvider(shutdown_on_exit=False)
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    with sdk.get_tracer("x").start_as_current_span("a") as sdk_span:
        sdk_span.set_attributes(values)
    assert dict(recorded[0].attributes) == dict(exporter.get_finished_spans()[0].attributes)


def _lite_tracer(recorded: list[Any]) -> Any:
    provider = _lite.Provider(
        lambda s, p: None, recorded.append, resource=_lite.build_resource(None, version="0")
    )
    return provider.get_tracer("x")


def test_an_undecodable_file_name_in_an_attribute_costs_nothing_else(env: dict[str, str]) -> None:
    code = """
import lazyotel

lazyotel.bootstrap("lite-cli")

@lazyotel.trace_command
def main():
    with lazyotel.get_tracer("lite.test").start_as_current_span("a") as span:
        span.set_attribute("path", "caf\\udce9")  # as os.listdir gives an undecodable name

main()
"""
    child, spans = _run_tree(env, code, 2)
    assert child.warnings == []
    assert spans["a"].attributes["path"] == "caf?"


def test_a_promoted_run_that_the_sdk_takes_over_leaves_no_ended_span_current(env: dict[str, str]) -> None:
    """Promotion, then ``reconfigure`` handing the run to the SDK: each makes the current spans
    OpenTelemetry's, once; the command span ended leaves nothing behind for the next command."""
    code = """
import lazyotel

lazyotel.bootstrap("lite-cli")

@lazyotel.trace_command
def first():
    import opentelemetry.trace  # promotion
    lazyotel.reconfigure(exporter="console")  # then the SDK takes over

@lazyotel.trace_command
def second():
    pass

first()
second()
"""
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    spans = {span["name"]: span for span in map(json.loads, _console_spans(child.stderr))}
    assert spans["cli.second"]["parent_id"] is None, child.stderr


ORPHAN = """
import sys
import httpx
import lazyotel
import lazyotel.testing

lazyotel.bootstrap("lite-cli", instrument=["httpx"])
original = httpx.HTTPTransport.__dict__["handle_request"]

def request():
    request = httpx.Request("GET", sys.argv[1])
    httpx.HTTPTransport().handle_request(request).close()
    return request.headers.get("traceparent")

@lazyotel.trace_command
def main():
    return request()

print("traced", main() is not None)
ours = httpx.HTTPTransport.__dict__["handle_request"]
def mocked(self, request):  # pytest-httpx's order: the mock first ...
    return ours(self, request)
httpx.HTTPTransport.handle_request = mocked
lazyotel.testing.reset()  # ... lazyotel's reset() next (it cannot reach our wrapper) ...
httpx.HTTPTransport.handle_request = ours  # ... then the mock's undo puts our wrapper back
lazyotel.bootstrap("lite-cli")  # no instrumentation asked for now
print("untraced", main() is None)
lazyotel.testing.reset()
lazyotel.bootstrap("lite-cli", instrument=["httpx"])
print("traced again", main() is not None)
lazyotel.testing.reset()
print("restored", httpx.HTTPTransport.__dict__["handle_request"] is original)
"""


def test_lazyotels_httpx_wrapper_put_back_after_reset_traces_nothing_and_is_removed(
    env: dict[str, str],
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.httpx")
    server = HeaderServer()
    try:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
        child = run_child(ORPHAN, env, server.url)
    finally:
        server.close()
    assert child.returncode == 0, child.stderr
    assert child.stdout.split("\n")[:4] == [
        "traced True",
        "untraced True",
        "traced again True",
        "restored True",
    ]


def test_a_patch_made_with_functools_wraps_is_not_taken_for_lazyotels_wrapper(env: dict[str, str]) -> None:
    pytest.importorskip("opentelemetry.instrumentation.httpx")
    code = """
import functools
import httpx
import lazyotel
import lazyotel.testing

lazyotel.bootstrap("lite-cli", instrument=["httpx"])

@lazyotel.trace_command
def main():
    pass

main()  # activation: httpx is instrumented
ours = httpx.HTTPTransport.__dict__["handle_request"]

@functools.wraps(ours)
def users_double(self, request):
    return httpx.Response(204)

httpx.HTTPTransport.handle_request = users_double
lazyotel.testing.reset()
print(httpx.HTTPTransport.__dict__["handle_request"] is users_double)
"""
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "True\n"


def test_a_promotion_in_another_thread_mid_request_still_sends_the_client_spans_traceparent(
    env: dict[str, str],
) -> None:
    pytest.importorskip("opentelemetry.instrumentation.httpx")
    code = """
import sys, threading
import httpx
import lazyotel
from lazyotel import _lite

lazyotel.bootstrap("lite-cli", instrument=["httpx"])
real = httpx.Headers.__init__
promoted = []

def headers_init(self, *args, **kwargs):  # between the CLIENT span's start and the inject
    span = _lite.current_span()
    if not promoted and getattr(span, "name", "") == "GET":
        promoted.append(1)
        thread = threading.Thread(target=lambda: __import__("opentelemetry.trace"))
        thread.start()
        thread.join()
    real(self, *args, **kwargs)

@lazyotel.trace_command
def main():
    httpx.Headers.__init__ = headers_init
    with httpx.Client() as client:
        client.get(sys.argv[1])

main()
"""
    server = HeaderServer()
    try:
        with OTLPReceiver() as receiver:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            child = run_child(code, env, server.url)
            assert child.returncode == 0, child.stderr
            assert ship_wait(env).returncode == 0
            spans = {span.name: span for span in receiver.wait_for(2, timeout=30)}
        (sent,) = server.received
    finally:
        server.close()
    assert sent.get("traceparent", "").split("-")[1:3] == [spans["GET"].trace_id, spans["GET"].span_id]
