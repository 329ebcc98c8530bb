"""``lazyotel._httpx``: the spans of opentelemetry-instrumentation-httpx's defaults, without it.

The main net is differential: the same requests (statuses, redirects, refused connections,
timeouts, a closed connection, a cancelled request, odd methods and URLs, sync and async,
suppressed, unsampled, custom and mock transports) run in one fresh interpreter under
``HTTPXClientInstrumentor().instrument()`` and in another under ``_httpx.instrument(httpx,
ApiKit())``, both into the SDK with an in-memory exporter, against a real HTTP server on
127.0.0.1; the spans (name, kind, attributes, status, events, scope, parents) and the headers
the server received must be the same, under every environment ``supported_reason`` accepts.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from _child import child_env, run_child

from lazyotel import _httpx


class StatusServer:
    """Answers ``/status/<code>``, ``/redirect`` (302 to /status/200), ``/slow`` (after 2 s),
    ``/close`` (closes the connection unanswered); records (method, path, headers)."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[tuple[str, str, dict[str, str]]]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                received.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                path = self.path.split("?")[0]
                if path == "/close":
                    self.close_connection = True
                    return
                if path == "/slow":
                    time.sleep(2)
                code = int(path.rsplit("/", 1)[1]) if path.startswith("/status/") else 200
                if path == "/redirect":
                    code = 302
                try:
                    self.send_response(code)
                    if code == 302:
                        self.send_header("Location", "/status/200")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (the timeout cases)
                    self.close_connection = True

            do_GET = do_POST = do_PURGE = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[StatusServer]:
    srv = StatusServer()
    yield srv
    srv.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The workload a child runs: each case under a parent span named after it; prints the spans.
WORKLOAD = """
import asyncio, json, sys
import httpx
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

variant, base, refused = sys.argv[1], sys.argv[2], sys.argv[3]
if variant == "contrib":
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    HTTPXClientInstrumentor().instrument()
else:
    from lazyotel import _httpx
    _httpx.instrument(httpx, _httpx.ApiKit())

tracer = trace.get_tracer("workload")
outcomes = []

def case(label, call):
    with tracer.start_as_current_span(label):
        try:
            response = call()
            outcomes.append([label, response.status_code, response.text])
        except BaseException as exc:
            outcomes.append([label, type(exc).__name__])

async def acase(label, call):
    with tracer.start_as_current_span(label):
        try:
            response = await call()
            outcomes.append([label, response.status_code, response.text])
        except BaseException as exc:
            outcomes.append([label, type(exc).__name__])

sig = "?a=1&sig=secret&Signature=x&b="
with httpx.Client(timeout=5) as client:
    case("ok", lambda: client.get(base + "/status/200"))
    case("created", lambda: client.post(base + "/status/201", content=b"body"))
    case("not-found", lambda: client.get(base + "/status/404"))
    case("error", lambda: client.get(base + "/status/500"))
    case("redirect", lambda: client.get(base + "/redirect", follow_redirects=True))
    case("redirect-not-followed", lambda: client.get(base + "/redirect"))
    case("refused", lambda: client.get(f"http://127.0.0.1:{refused}/x"))
    case("timeout", lambda: client.get(base + "/slow", timeout=0.2))
    case("closed", lambda: client.get(base + "/close"))
    case("query", lambda: client.get(base + "/status/200" + sig))
    case("plain-query", lambda: client.get(base + "/status/200?x=1&y=2"))
    case("credentials", lambda: client.get(base.replace("//", "//user:pw@") + "/status/200"))
    case("odd-method", lambda: client.request("PURGE", base + "/status/200"))
    case("odd-path", lambda: client.get(base + "/status/200/../200?q=a b"))
    token = context.attach(baggage.set_baggage("tenant", "t1"))
    case("baggage", lambda: client.get(base + "/status/200"))
    context.detach(token)
    probed = []
    def probe(event, info):
        probed.append(trace.get_current_span().get_span_context().span_id)
    case("probe", lambda: client.get(base + "/status/200", extensions={"trace": probe}))
    custom = [("X-Custom", "a, b"), ("x-custom", "c"), ("Accept", "text/plain"), ("X-Secret", "s")]
    case("headers", lambda: client.get(base + "/status/200", headers=custom))
    case("own-traceparent", lambda: client.get(
        base + "/status/200", headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}))
    token = context.attach(context.set_value(context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
    case("suppressed-http", lambda: client.get(base + "/status/200"))
    context.detach(token)
    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    case("suppressed", lambda: client.get(base + "/status/200"))
    context.detach(token)
    token = context.attach(context.set_value("suppress_instrumentation", True))
    case("suppressed-plain", lambda: client.get(base + "/status/200"))
    context.detach(token)
unsampled = trace.NonRecordingSpan(trace.SpanContext(int("3" * 32, 16), int("4" * 16, 16), is_remote=True))
with trace.use_span(unsampled), httpx.Client() as client:
    response = client.get(base + "/status/500")
    outcomes.append(["unsampled", response.status_code])
with httpx.Client(transport=httpx.HTTPTransport()) as client:
    case("own-transport", lambda: client.get(base + "/status/200"))
mock = httpx.MockTransport(lambda request: httpx.Response(200, text="mock"))
with httpx.Client(transport=mock) as client:
    case("mock-transport", lambda: client.get(base + "/status/200"))
case("top-level-get", lambda: httpx.get(base + "/status/204"))

async def main():
    async with httpx.AsyncClient(timeout=5) as client:
        await acase("async-ok", lambda: client.get(base + "/status/200"))
        await acase("async-error", lambda: client.get(base + "/status/503"))
        await acase("async-redirect", lambda: client.get(base + "/redirect", follow_redirects=True))
        await acase("async-refused", lambda: client.get(f"http://127.0.0.1:{refused}/x"))
        await acase("async-timeout", lambda: client.get(base + "/slow", timeout=0.2))
        await acase("async-closed", lambda: client.get(base + "/close"))
        await acase("async-cancelled", lambda: asyncio.wait_for(client.get(base + "/slow"), 0.2))
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        await acase("async-mock-transport", lambda: client.get(base + "/status/200"))

asyncio.run(main())

def event(e):
    return {"name": e.name, "keys": sorted(e.attributes),
            "type": e.attributes.get("exception.type"), "message": e.attributes.get("exception.message")}

spans = [{
    "name": s.name, "kind": s.kind.name, "attributes": dict(s.attributes),
    "status": [s.status.status_code.name, s.status.description],
    "events": [event(e) for e in s.events],
    "scope": [s.instrumentation_scope.name, s.instrumentation_scope.version,
              s.instrumentation_scope.schema_url],
    "trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x"),
    "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
} for s in exporter.get_finished_spans()]
# While the transport ran (httpcore's trace callbacks), the request's CLIENT span was current.
names = {s["span_id"]: s["name"] + "/" + s["kind"] for s in spans}
outcomes.append(["probed", sorted({names.get(format(i, "016x"), "?") for i in probed}), len(probed) > 3])
print(json.dumps({"spans": spans, "outcomes": outcomes}))
"""


def run_workload(variant: str, server: StatusServer, env: dict[str, str]) -> dict[str, Any]:
    """Run the workload under ``variant`` ("contrib" or "lite"); the spans, outcomes and the
    requests the server received, with ports and ids made comparable."""
    server.received.clear()
    refused = closed_port()
    child = run_child(WORKLOAD, child_env(**env), variant, server.base, str(refused), timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.warnings == [], child.stderr
    result = json.loads(child.stdout)
    spans = result["spans"]
    by_id = {span["span_id"]: span for span in spans}
    ports = (str(server.port), str(refused))

    def plain(value: Any) -> Any:
        if isinstance(value, str):
            for port in ports:
                value = value.replace(f":{port}", ":PORT")
            parts = value.split("-")
            if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
                # A captured traceparent (a redirect's second request carries the first's).
                span = by_id.get(parts[2])
                return f"traceparent of {span['name']}/{span['kind']}" if span else value
            return value
        if isinstance(value, int) and str(value) in ports:
            return "PORT"
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    def comparable(span: dict[str, Any]) -> dict[str, Any]:
        parent = by_id.get(span["parent_id"]) if span["parent_id"] else None
        return {
            "name": span["name"],
            "kind": span["kind"],
            # In order: it decides which attributes a span over the count limit drops.
            "attributes": [[key, plain(value)] for key, value in span["attributes"].items()],
            "status": span["status"],
            "events": [{key: plain(value) for key, value in event.items()} for event in span["events"]],
            "scope": span["scope"],
            "parent": parent["name"] if parent else span["parent_id"],
        }

    received = []
    for method, path, headers in server.received:
        traceparent = headers.get("traceparent")
        entry: dict[str, Any] = {"method": method, "path": path, "traceparent": traceparent is not None}
        if traceparent is not None:
            _version, trace_id, span_id, flags = traceparent.split("-")
            span = by_id.get(span_id)
            # The header names the CLIENT span of this very request, in its trace.
            entry["span"] = span["name"] if span else None
            entry["same_trace"] = span is not None and span["trace_id"] == trace_id
            entry["kind"] = span["kind"] if span else None
            entry["flags"] = flags
            entry["foreign_ids"] = "1" * 32 in traceparent
            entry["remote_trace"] = trace_id == "3" * 32  # the unsampled case's remote parent
        entry["baggage"] = headers.get("baggage")
        received.append(entry)
    return {
        "spans": [comparable(span) for span in spans],
        "outcomes": result["outcomes"],
        "received": received,
        "raw": spans,
    }


#: The environments the light instrumentation supports (each differential case runs under each).
SUPPORTED_ENVS = {
    "default": {},
    "semconv-http": {"OTEL_SEMCONV_STABILITY_OPT_IN": "http"},
    "semconv-dup": {"OTEL_SEMCONV_STABILITY_OPT_IN": "database, http/dup"},
    "semconv-other": {"OTEL_SEMCONV_STABILITY_OPT_IN": "database,HTTP"},
    "excluded-urls": {"OTEL_PYTHON_HTTPX_EXCLUDED_URLS": "status/404,/redirect$"},
    "excluded-urls-generic": {"OTEL_PYTHON_EXCLUDED_URLS": "status/5.."},
    "all-methods": {"OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS": "true"},
    "sanitize-only": {"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": "set-cookie"},
    "capture-headers": {
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": "Accept.*, X-CUSTOM,x-secret,traceparent",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE": "content-.*,Server",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": ".*secret.*,server",
    },
    "capture-headers-dup": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": ".*",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE": "content-length",
    },
}


@pytest.mark.parametrize("env_name", sorted(SUPPORTED_ENVS))
def test_same_spans_and_headers_as_the_contrib_instrumentor(server: StatusServer, env_name: str) -> None:
    env = SUPPORTED_ENVS[env_name]
    assert _httpx.supported_reason(env, httpx.__version__) is None
    contrib = run_workload("contrib", server, env)
    lite = run_workload("lite", server, env)
    assert lite["outcomes"] == contrib["outcomes"]
    assert lite["received"] == contrib["received"]
    for expected, actual in zip(contrib["spans"], lite["spans"]):
        assert actual == expected
    assert len(lite["spans"]) == len(contrib["spans"])
    # Not a vacuous comparison: the contrib made client spans, and each request it traced
    # carried its client span's ids.
    clients = [span for span in contrib["spans"] if span["kind"] == "CLIENT"]
    assert len(clients) >= 15
    traced = [entry for entry in contrib["received"] if entry.get("kind") == "CLIENT"]
    assert len(traced) >= 10
    assert all(entry["same_trace"] for entry in traced)


def test_the_client_spans_say_what_the_contrib_says_by_default(server: StatusServer) -> None:
    """The light spans themselves, pinned (so a change both sides share still shows)."""
    lite = run_workload("lite", server, {})
    spans = {span["parent"]: span for span in lite["spans"] if span["kind"] == "CLIENT"}
    for span in spans.values():
        span["attributes"] = dict(span["attributes"])
    url = "http://127.0.0.1:PORT/status/404"
    expected = {"http.method": "GET", "http.url": url, "http.status_code": 404}
    assert spans["not-found"]["attributes"] == expected
    assert spans["not-found"]["status"] == ["ERROR", None]
    assert spans["not-found"]["scope"] == [
        "opentelemetry.instrumentation.httpx",
        "0.66b1",
        "https://opentelemetry.io/schemas/1.11.0",
    ]
    refused = spans["refused"]
    assert refused["status"][0] == "ERROR"
    assert refused["status"][1].startswith("ConnectError: ")
    assert [event["name"] for event in refused["events"]] == ["exception"]
    assert spans["odd-method"]["name"] == "HTTP"
    assert spans["credentials"]["attributes"]["http.url"].startswith("http://REDACTED:REDACTED@")
    assert "sig=REDACTED" in spans["query"]["attributes"]["http.url"]
    assert "mock-transport" not in spans
    assert "suppressed" not in spans


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": "x-a,(b"}, "CLIENT_REQUEST"),
        ({"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE": "*"}, "CLIENT_RESPONSE"),
        ({"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": "a[b"}, "SANITIZE_FIELDS"),
        ({"OTEL_PYTHON_HTTPX_EXCLUDED_URLS": "a(b"}, "EXCLUDED_URLS"),
        ({"OTEL_PYTHON_EXCLUDED_URLS": "a(b"}, "EXCLUDED_URLS"),
    ],
)
def test_supported_reason_names_what_is_not_reproduced(env: dict[str, str], reason: str) -> None:
    said = _httpx.supported_reason(env)
    assert said is not None
    assert reason in said


def test_supported_reason_refuses_httpx_before_0_20() -> None:
    assert "0.19" in (_httpx.supported_reason({}, "0.19.0") or "")
    assert _httpx.supported_reason({}, "0.28.1") is None


def test_importing_it_imports_no_opentelemetry_httpx_or_wrapt() -> None:
    child = run_child(
        """
        import sys
        before = set(sys.modules)
        import lazyotel._httpx
        heavy = ("opentelemetry", "httpx", "wrapt", "asyncio", "importlib.metadata", "re", "logging")
        print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy or m in heavy))
        """,
        child_env(),
        level=None,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "[]"


class RecordingKit:
    """A kit of plain Python objects, recording what it is asked (for the in-process tests)."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.spans: list[RecordingSpan] = []
        self.current: list[RecordingSpan] = []

    def _maybe_fail(self, where: str) -> None:
        if self.fail == where:
            msg = f"kit fault in {where}"
            raise RuntimeError(msg)

    def suppressed(self) -> bool:
        self._maybe_fail("suppressed")
        return False

    def start_client_span(self, name: str, attributes: dict[str, Any]) -> tuple[RecordingSpan, object]:
        self._maybe_fail("start")
        span = RecordingSpan(name, attributes, self.fail)
        self.spans.append(span)
        self.current.append(span)
        return span, len(self.current)

    def end_span(self, span: RecordingSpan, token: object) -> None:
        assert token == len(self.current)
        self.current.pop()
        self._maybe_fail("end")
        span.end()

    def inject(self, headers: Any) -> None:
        self._maybe_fail("inject")
        headers["traceparent"] = "00-" + "5" * 32 + "-" + "6" * 16 + "-01"


class RecordingSpan:
    def __init__(self, name: str, attributes: dict[str, Any], fail: str) -> None:
        self.name = name
        self.attributes = dict(attributes)
        self.fail = fail
        self.status: tuple[str, str | None] | None = None
        self.ended = 0

    def set_attribute(self, key: str, value: Any) -> None:
        if self.fail == "set_attribute":
            msg = "kit fault in set_attribute"
            raise RuntimeError(msg)
        self.attributes[key] = value

    def set_attributes(self, attributes: Any) -> None:
        self.attributes.update(attributes)

    def is_recording(self) -> bool:
        if self.fail == "is_recording":
            msg = "kit fault in is_recording"
            raise RuntimeError(msg)
        return True

    def record_exception(self, exception: BaseException) -> None:
        if self.fail == "record_exception":
            msg = "kit fault in record_exception"
            raise RuntimeError(msg)

    def set_status(self, code_name: str, description: str | None = None) -> None:
        self.status = (code_name, description)

    def end(self) -> None:
        self.ended += 1


@pytest.fixture
def instrumented() -> Iterator[None]:
    yield
    _httpx.uninstrument(httpx)


def test_uninstrument_restores_the_original_methods(instrumented: None) -> None:
    sync, async_ = httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request
    _httpx.instrument(httpx, RecordingKit())
    assert httpx.HTTPTransport.handle_request is not sync
    assert httpx.AsyncHTTPTransport.handle_async_request is not async_
    _httpx.uninstrument(httpx)
    assert httpx.HTTPTransport.handle_request is sync
    assert httpx.AsyncHTTPTransport.handle_async_request is async_
    assert "handle_request" in vars(httpx.HTTPTransport)
    _httpx.uninstrument(httpx)  # twice: nothing to undo
    assert httpx.HTTPTransport.handle_request is sync


def test_instrumenting_twice_makes_one_span_per_request(server: StatusServer, instrumented: None) -> None:
    kit, other = RecordingKit(), RecordingKit()
    _httpx.instrument(httpx, kit)
    _httpx.instrument(httpx, other)
    with httpx.Client() as client:
        assert client.get(server.base + "/status/200").status_code == 200
    assert [span.name for span in kit.spans] == ["GET"]
    assert [span.ended for span in kit.spans] == [1]
    assert other.spans == []


def test_a_span_started_before_uninstrument_still_ends(server: StatusServer, instrumented: None) -> None:
    class UninstrumentingKit(RecordingKit):
        def inject(self, headers: Any) -> None:
            _httpx.uninstrument(httpx)  # mid-request: this request's span must still end

    kit = UninstrumentingKit()
    _httpx.instrument(httpx, kit)
    with httpx.Client() as client:
        client.get(server.base + "/status/200")
        client.get(server.base + "/status/200")
    assert [span.ended for span in kit.spans] == [1]
    assert kit.current == []


def test_uninstrument_under_a_foreign_wrapper_leaves_requests_untraced(
    server: StatusServer, instrumented: None
) -> None:
    """Someone wrapped the method after us: uninstrument cannot take ours out of their chain,
    so ours passes requests through untraced."""
    kit = RecordingKit()
    _httpx.instrument(httpx, kit)
    ours = httpx.HTTPTransport.__dict__["handle_request"]

    def foreign(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        return ours(self, request)  # type: ignore[no-any-return]

    httpx.HTTPTransport.handle_request = foreign  # type: ignore[method-assign]
    try:
        _httpx.uninstrument(httpx)
        with httpx.Client() as client:
            assert client.get(server.base + "/status/200").status_code == 200
    finally:
        httpx.HTTPTransport.handle_request = ours.__wrapped__  # type: ignore[method-assign]
    assert kit.spans == []
    _httpx.instrument(httpx, kit)  # and it can be instrumented afresh
    with httpx.Client() as client:
        client.get(server.base + "/status/200")
    assert [span.name for span in kit.spans] == ["GET"]


def test_after_the_contrib_instrumentor_it_adds_no_second_span(server: StatusServer) -> None:
    child = run_child(
        """
        import sys
        import httpx
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from lazyotel import _httpx

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        HTTPXClientInstrumentor().instrument()
        _httpx.instrument(httpx, _httpx.ApiKit())
        httpx.get(sys.argv[1])
        print(len(exporter.get_finished_spans()))
        """,
        child_env(),
        server.base + "/status/200",
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "1"


@pytest.mark.parametrize("fail", ["suppressed", "start", "inject", "end", "set_attribute", "is_recording"])
def test_a_kit_that_raises_never_changes_the_result(
    server: StatusServer, instrumented: None, fail: str, caplog: pytest.LogCaptureFixture
) -> None:
    kit = RecordingKit(fail)
    _httpx.instrument(httpx, kit)
    with httpx.Client() as client:
        response = client.get(server.base + "/status/404")
        assert (response.status_code, response.text) == (404, "ok")
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{closed_port()}/x")
    assert kit.current == []  # every span made current was taken off again
    warnings = [r for r in caplog.records if r.name == "lazyotel" and r.levelname == "WARNING"]
    assert len(warnings) <= 1
    assert all("httpx instrumentation failed" in r.getMessage() for r in warnings)


@pytest.mark.parametrize("fail", ["start", "inject", "record_exception", "end"])
def test_a_kit_that_raises_never_changes_an_async_result(
    server: StatusServer, instrumented: None, fail: str
) -> None:
    kit = RecordingKit(fail)
    _httpx.instrument(httpx, kit)

    async def main() -> None:
        async with httpx.AsyncClient() as client:
            response = await client.get(server.base + "/status/500")
            assert (response.status_code, response.text) == (500, "ok")
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{closed_port()}/x")

    asyncio.run(main())
    assert kit.current == []
