"""The test OTLP receiver, fed by the real SDK OTLP exporters (no lazyotel in the loop)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lazyotel._receiver import OTLPReceiver, ReceivedEvent, ReceivedSpan, refused_endpoint
from lazyotel._tree import draw_trace


@contextmanager
def sdk_tracer(exporter: Any) -> Iterator[Any]:
    """A private SDK provider exporting synchronously through ``exporter`` (no globals)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": "receiver-test", "deployment.environment": "ci"}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider.get_tracer("receiver.scope")
    finally:
        provider.shutdown()


def make_spans(tracer: Any) -> None:
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with tracer.start_as_current_span("parent", kind=SpanKind.SERVER) as parent:
        parent.set_attributes({"s": "text", "i": 7, "f": 1.5, "b": True, "arr": ["a", "b"], "nums": [1, 2]})
        parent.add_event("checkpoint", {"step": 2})
        with tracer.start_as_current_span("child") as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))


def check_spans(receiver: OTLPReceiver) -> None:
    spans = receiver.wait_for(2, timeout=10)
    by_name = {span.name: span for span in spans}
    assert sorted(by_name) == ["child", "parent"]
    parent, child = by_name["parent"], by_name["child"]
    assert parent.kind == "SERVER"
    assert child.kind == "INTERNAL"
    assert parent.attributes == {"s": "text", "i": 7, "f": 1.5, "b": True, "arr": ["a", "b"], "nums": [1, 2]}
    assert parent.events[0] == ReceivedEvent(
        name="checkpoint", time_ns=parent.events[0].time_ns, attributes={"step": 2}
    )
    assert parent.status_code == "UNSET"
    assert (child.status_code, child.status_message) == ("ERROR", "boom")
    assert child.trace_id == parent.trace_id
    assert len(parent.trace_id) == 32
    assert len(parent.span_id) == 16
    assert child.parent_span_id == parent.span_id
    assert parent.parent_span_id is None
    assert 0 < parent.start_ns <= child.start_ns <= child.end_ns <= parent.end_ns
    assert parent.resource["service.name"] == "receiver-test"
    assert parent.resource["deployment.environment"] == "ci"
    assert parent.scope == "receiver.scope"


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate"])
def test_http_receiver_decodes_the_sdk_exporters_request(compression: str) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    with OTLPReceiver() as receiver:
        exporter = OTLPSpanExporter(
            endpoint=receiver.traces_url,
            headers={"x-api-key": "k-123"},
            compression=Compression(compression),
            timeout=10,
        )
        with sdk_tracer(exporter) as tracer:
            make_spans(tracer)
        check_spans(receiver)
        exports = receiver.exports
    assert exports
    assert all(export.headers["x-api-key"] == "k-123" for export in exports)
    assert sum(export.span_count for export in exports) == 2
    if compression != "none":
        assert exports[0].headers["content-encoding"] == compression


def test_grpc_receiver_decodes_the_sdk_exporters_request() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    with OTLPReceiver(protocol="grpc") as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True, headers={"x-api-key": "g-9"})
        with sdk_tracer(exporter) as tracer:
            make_spans(tracer)
        check_spans(receiver)
        assert receiver.exports[0].headers["x-api-key"] == "g-9"


def test_http_receiver_rejects_other_paths_and_garbage() -> None:
    with OTLPReceiver() as receiver:
        for path, body, expected in (("/v1/metrics", b"", 404), ("/v1/traces", b"\xff\xff\xff", 400)):
            request = urllib.request.Request(receiver.endpoint + path, data=body, method="POST")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)
            info.value.close()  # an HTTPError holds the connection open
            assert info.value.code == expected
        assert receiver.spans == []


def test_wait_for_raises_when_too_few_spans_arrive() -> None:
    with OTLPReceiver() as receiver, pytest.raises(TimeoutError, match="received 0"):
        receiver.wait_for(1, timeout=0.1)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_silent_receiver_accepts_never_answers_and_stops_promptly(protocol: str) -> None:
    receiver = OTLPReceiver(protocol=protocol, behaviour="silent").start()
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            exporter: Any = OTLPSpanExporter(endpoint=receiver.endpoint, insecure=True, timeout=0.5)
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            exporter = Http(endpoint=receiver.traces_url, timeout=0.5)
            with socket.create_connection(("127.0.0.1", receiver.port), timeout=2) as sock:
                sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                sock.settimeout(0.3)
                with pytest.raises(socket.timeout):
                    sock.recv(1)  # accepted, read, never answered
        with sdk_tracer(exporter) as tracer:
            tracer.start_span("lost").end()  # times out inside the exporter
        assert receiver.spans == []
    finally:
        started = time.monotonic()
        receiver.stop()
        assert time.monotonic() - started < 5


def test_refused_endpoint_refuses_connections() -> None:
    url = refused_endpoint()
    port = int(url.rsplit(":", 1)[1])
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_bad_protocol_or_behaviour_is_rejected() -> None:
    with pytest.raises(ValueError, match="protocol='http/json'"):
        OTLPReceiver(protocol="http/json")
    with pytest.raises(ValueError, match="behaviour='slow'"):
        OTLPReceiver(behaviour="slow")


# -- the public receiver: lazyotel.testing.OTLPReceiver and `python -m lazyotel receive` ---------


def test_the_receiver_is_public_in_lazyotel_testing() -> None:
    import lazyotel.testing

    assert lazyotel.testing.OTLPReceiver is OTLPReceiver
    assert repr(OTLPReceiver).startswith("<class 'lazyotel.testing.OTLPReceiver'")


def test_receiver_listens_on_the_port_it_is_given() -> None:
    port = int(refused_endpoint().rsplit(":", 1)[1])  # free a moment ago
    with OTLPReceiver(port=port) as receiver:
        assert receiver.endpoint == f"http://127.0.0.1:{port}"
        with pytest.raises(OSError):  # taken now
            OTLPReceiver(port=port).start()
    with pytest.raises(ValueError, match="port=70000"):
        OTLPReceiver(port=70000)


_MISSING = """
import sys
sys.modules[sys.argv[1]] = None  # what an uninstalled package looks like to the import system
from lazyotel.testing import OTLPReceiver
receiver = OTLPReceiver(protocol=sys.argv[2])
try:
    receiver.start()
except ImportError as exc:
    print(exc)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    ("missing", "protocol", "distribution"),
    [
        ("opentelemetry.proto", "http/protobuf", "opentelemetry-proto"),
        ("grpc", "grpc", "grpcio"),
    ],
)
def test_a_missing_package_names_the_testing_extra(
    subprocess_env: dict[str, str], missing: str, protocol: str, distribution: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _MISSING, missing, protocol],
        check=False,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert f"needs {distribution}, which is not installed" in proc.stdout
    assert "pip install 'lazyotel[testing]'" in proc.stdout


def _span(name: str, span_id: str, parent: str | None, start: int, end: int, **attrs: Any) -> ReceivedSpan:
    return ReceivedSpan(
        name=name,
        trace_id="ab" * 16,
        span_id=span_id,
        parent_span_id=parent,
        kind="INTERNAL",
        status_code="UNSET",
        status_message="",
        attributes=attrs,
        events=[],
        start_ns=start,
        end_ns=end,
        resource={"service.name": "svc"},
        scope="s",
    )


def test_draw_trace_draws_a_tree_with_a_timeline() -> None:
    spans = [
        _span("child-2", "03", "01", 60, 100),
        _span("cli.deploy", "01", None, 0, 100, **{"cli.args": '{"args": ["prod"], "kwargs": {"n": 2}}'}),
        _span("child-1", "02", "01", 0, 50),
        _span("grandchild", "04", "02", 10, 20),
        _span("orphan", "05", "ff", 0, 10),  # its parent never arrived: drawn as a root
    ]
    lines = draw_trace(spans, width=10)
    names = [line.split(" ms  ", 1)[1].split(" INTERNAL")[0].strip() for line in lines]
    assert names == ["cli.deploy", "├─ child-1", "│  └─ grandchild", "└─ child-2", "orphan"]
    assert lines[0].startswith("  ██████████ ")  # the root spans the whole timeline
    assert "prod n=2" in lines[0]
    assert draw_trace([]) == []


def test_python_m_lazyotel_receive_prints_arriving_traces(subprocess_env: dict[str, str]) -> None:
    """A local collector for a first try: a traced command's spans, drawn as the demo draws them."""
    receive = subprocess.Popen(
        [sys.executable, "-m", "lazyotel", "receive", "--port", "0", "--count", "2", "--timeout", "60"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert receive.stderr is not None
        banner = receive.stderr.readline()
        assert banner.startswith("lazyotel receive: listening on http://127.0.0.1:"), banner
        endpoint = banner.split()[4]
        command = (
            "import lazyotel\n"
            "lazyotel.bootstrap('hello')\n"
            "@lazyotel.trace_command\n"
            "def hello(name):\n"
            "    with lazyotel.get_tracer('t').start_as_current_span('greet'):\n"
            "        return name\n"
            "hello('world')\n"
        )
        env = {**subprocess_env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "LAZYOTEL_MODE": "on"}
        subprocess.run([sys.executable, "-c", command], env=env, check=True, timeout=60)
        out, err = receive.communicate(timeout=60)
    finally:
        receive.kill()
        receive.wait()
    assert receive.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("trace ")
    assert "cli.hello" in lines[1]
    assert "hello" in lines[1]  # the service
    assert "world" in lines[1]  # the command's arguments
    assert "└─ greet" in lines[2]


def test_python_m_lazyotel_receive_reports_a_taken_port(subprocess_env: dict[str, str]) -> None:
    with OTLPReceiver() as taken:
        proc = subprocess.run(
            [sys.executable, "-m", "lazyotel", "receive", "--port", str(taken.port)],
            check=False,
            env=subprocess_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert "cannot listen on 127.0.0.1:" in proc.stderr
    assert "--port 0" in proc.stderr
