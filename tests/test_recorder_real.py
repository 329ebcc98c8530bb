"""The recorder with real callers: the httpx instrumentation against a real local HTTP server, and
user code on the plain OpenTelemetry API in a fresh interpreter; each compared with the SDK.

Both sides use the same deterministic ids, so ids must match too; both are encoded by the real
OTLP protobuf encoder and normalised as in ``test_recorder_diff`` (timestamps from the clock and
the resource's lazyotel-versus-SDK identity aside).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _child import run_child
from _http import HeaderServer
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_recorder_diff import OWN_FRAME, FixedIds, normalise

from lazyotel import _recorder


@pytest.fixture
def server() -> Iterator[HeaderServer]:
    srv = HeaderServer()
    yield srv
    srv.close()


def http_workload(provider: trace_api.TracerProvider, base: str) -> None:
    """A command span with three httpx client requests (one 500, one refused) under it."""
    tracer = provider.get_tracer("cli", "1.0")
    with httpx.Client() as client:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
        with tracer.start_as_current_span("cli.fetch", attributes={"cli.command": "fetch"}):
            client.get(f"{base}/items?id=1")
            client.get(f"{base}/fail")
            with contextlib.suppress(httpx.ConnectError):
                client.get("http://127.0.0.1:9/refused")


def test_httpx_client_spans_match_the_sdk_and_carry_traceparent(server: HeaderServer) -> None:
    exporter = InMemorySpanExporter()
    sdk = TracerProvider(
        resource=Resource.create({"service.name": "cli"}), id_generator=FixedIds(7), shutdown_on_exit=False
    )
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    recorded: list[_recorder.RecordedSpan] = []
    ours = _recorder.RecordingProvider(
        recorded.append,
        resource=_recorder.build_resource({"service.name": "cli"}, version="x"),
        id_generator=FixedIds(7),
    )

    http_workload(sdk, server.base)
    sdk_headers = [h["traceparent"] for h in server.received]
    server.received.clear()
    http_workload(ours, server.base)
    our_headers = [h["traceparent"] for h in server.received]

    assert [span.name for span in recorded] == ["GET", "GET", "GET", "cli.fetch"]
    assert recorded[0].kind is trace_api.SpanKind.CLIENT
    assert our_headers == [
        f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-03" for span in recorded[:2]
    ]
    assert our_headers == sdk_headers
    ours_otlp = normalise(encode_spans(recorded))
    sdk_otlp = normalise(encode_spans(exporter.get_finished_spans()))
    assert sdk_otlp == ours_otlp
    statuses = [span.status.status_code for span in recorded]
    assert statuses == [
        trace_api.StatusCode.UNSET,
        trace_api.StatusCode.ERROR,
        trace_api.StatusCode.ERROR,
        trace_api.StatusCode.UNSET,
    ]


USER_CODE = """
import json, random, sys

class FixedIds:
    def __init__(self):
        self.random = random.Random(3)
    def generate_span_id(self):
        return self.random.getrandbits(64) or 1
    def generate_trace_id(self):
        return self.random.getrandbits(128) or 1
    def is_trace_id_random(self):
        return True

from opentelemetry import trace
early = trace.get_tracer("user.early")  # a module-level tracer, taken before any provider is set

spans = []
if sys.argv[1] == "recorder":
    from lazyotel import _recorder
    provider = _recorder.RecordingProvider(
        spans.append,
        resource=_recorder.build_resource({"service.name": "user-cli"}, version="x"),
        id_generator=FixedIds(),
    )
else:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "user-cli"}), id_generator=FixedIds())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

# The user's own code: nothing but the OpenTelemetry API.
tracer = trace.get_tracer("user.module", "3.1", schema_url="https://opentelemetry.io/schemas/1.21.0")
with tracer.start_as_current_span("load", kind=trace.SpanKind.INTERNAL, attributes={"rows": 3}) as span:
    span.add_event("parsed", {"columns": ["a", "b"]})
    with early.start_as_current_span("early child") as child:
        child.set_attribute("ok", True)
    try:
        with trace.get_tracer("user.module", "3.1").start_as_current_span("fails"):
            raise LookupError("no such row")
    except LookupError:
        pass
    trace.get_current_span().set_status(trace.StatusCode.OK)

sdk_modules = sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk"))
if sys.argv[1] != "recorder":
    spans = exporter.get_finished_spans()
from google.protobuf.json_format import MessageToJson
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
print(json.dumps({"sdk_modules": sdk_modules, "otlp": json.loads(MessageToJson(encode_spans(spans)))}))
"""


def run_user_code(kind: str, env: dict[str, str]) -> dict[str, Any]:
    proc = run_child(USER_CODE, env, kind, level=None)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_user_code_on_the_plain_api_matches_the_sdk_without_importing_it(
    subprocess_env: dict[str, str],
) -> None:
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    ours = run_user_code("recorder", subprocess_env)
    sdk = run_user_code("sdk", subprocess_env)
    assert ours["sdk_modules"] == []
    assert "opentelemetry.sdk.trace" in sdk["sdk_modules"]

    def decoded(result: dict[str, Any]) -> dict[str, Any]:
        return normalise(ParseDict(result["otlp"], ExportTraceServiceRequest()))

    assert decoded(sdk) == decoded(ours)
    names = [s["name"] for s in ours["otlp"]["resourceSpans"][0]["scopeSpans"][0]["spans"]]
    assert "early child" in str(ours["otlp"])
    assert names


def test_importing_the_recorder_imports_the_api_only(subprocess_env: dict[str, str]) -> None:
    """Beyond ``import lazyotel``: the API, nothing of the SDK, nothing else of lazyotel (pipelines floor)."""
    code = (
        "import sys; import lazyotel; before = set(sys.modules); import lazyotel._recorder; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith(('opentelemetry.sdk', 'lazyotel', "
        "'google', 'importlib.metadata', 'concurrent', 'socket'))))"
    )
    proc = run_child(code, subprocess_env, level=None)
    assert proc.returncode == 0, proc.stderr
    expected = ["lazyotel._lite", "lazyotel._recorder", "lazyotel._recorder_setup"]
    assert proc.stdout.strip() == repr(expected)


def test_the_supported_configuration_check_imports_nothing(subprocess_env: dict[str, str]) -> None:
    """The hub can choose recorder or SDK before importing either (no OpenTelemetry, no typing)."""
    code = (
        "import sys; import lazyotel; before = set(sys.modules); "
        "from lazyotel._recorder_setup import unsupported_reason; unsupported_reason({}); "
        "print(sorted(set(sys.modules) - before))"
    )
    proc = run_child(code, subprocess_env, level=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['lazyotel._recorder_setup']"


def _command(provider: trace_api.TracerProvider) -> None:
    tracer = provider.get_tracer("cli", "1.0")
    with tracer.start_as_current_span("cli.sync", attributes={"cli.args": '{"args": []}', "n": 3}) as span:
        span.add_event("progress", {"done": 0.5, "tags": ["a", "b"]})
        for index in range(2):
            with tracer.start_as_current_span(f"step{index}", kind=trace_api.SpanKind.CLIENT):
                pass
        with contextlib.suppress(ValueError), tracer.start_as_current_span("fails"):
            raise ValueError("bad row")


def test_the_real_otlp_exporter_sends_recorded_spans_as_it_sends_the_sdk_s() -> None:
    """Recorder -> the real OTLP/HTTP exporter -> the real receiver, against SDK -> the same."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from lazyotel._receiver import OTLPReceiver

    exporter = InMemorySpanExporter()
    sdk = TracerProvider(
        resource=Resource.create({"service.name": "cli"}), id_generator=FixedIds(11), shutdown_on_exit=False
    )
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    recorded: list[_recorder.RecordedSpan] = []
    ours = _recorder.RecordingProvider(
        recorded.append,
        resource=_recorder.build_resource({"service.name": "cli"}, version="x"),
        id_generator=FixedIds(11),
    )
    _command(sdk)
    _command(ours)

    received = {}
    for kind, spans in (("sdk", exporter.get_finished_spans()), ("ours", recorded)):
        with OTLPReceiver() as receiver:
            otlp = OTLPSpanExporter(endpoint=receiver.traces_url)
            assert otlp.export(spans).name == "SUCCESS"
            otlp.shutdown()
            received[kind] = receiver.wait_for(len(spans))

    def comparable(span: Any) -> dict[str, Any]:
        fields = {name: getattr(span, name) for name in type(span)._fields()}
        fields.pop("start_ns"), fields.pop("end_ns")
        fields["events"] = [(event.name, event.attributes) for event in span.events]
        for _, attributes in fields["events"]:
            if "exception.stacktrace" in attributes:  # the provider's own frame differs
                attributes["exception.stacktrace"] = OWN_FRAME.sub("", attributes["exception.stacktrace"])
        for key in ("telemetry.sdk.name", "telemetry.sdk.version", "service.instance.id"):
            fields["resource"][key] = "<differs by design>"
        return fields

    assert [span.name for span in received["ours"]] == ["step0", "step1", "fails", "cli.sync"]
    assert received["ours"][3].resource["telemetry.sdk.name"] == "lazyotel"
    assert [comparable(s) for s in received["sdk"]] == [comparable(s) for s in received["ours"]]
