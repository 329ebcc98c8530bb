"""Outgoing httpx requests inside a traced command carry W3C trace context, end to end.

Real parts only: a stdlib HTTP server on 127.0.0.1 that records the headers it receives,
httpx's real sync and async clients, and (for the whole path) the real OTLP receiver of
``lazyotel._receiver`` decoding what a child process exports.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _http import HeaderServer

import lazyotel
import lazyotel.testing
from lazyotel._receiver import OTLPReceiver

CLI = Path(__file__).parent / "apps" / "instr" / "cli.py"


@pytest.fixture
def server() -> Iterator[HeaderServer]:
    srv = HeaderServer()
    yield srv
    srv.close()


def hex_id(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def traceparent_ids(header: str) -> tuple[str, str]:
    """``(trace id, parent span id)`` of a W3C ``traceparent`` header."""
    version, trace_id, span_id, _flags = header.split("-")
    assert version == "00"
    return trace_id, span_id


@lazyotel.trace_command
def fetch(client: httpx.Client, url: str) -> str:
    """A traced command (span ``cli.fetch``) making one request with a sync client."""
    return client.get(url).text


@lazyotel.trace_command("fetch")
async def fetch_async(client: httpx.AsyncClient, url: str) -> str:
    """The same with an async client (a coroutine command, span ``cli.fetch`` too)."""
    return (await client.get(url)).text


def check_propagated(spans: Any, server: HeaderServer) -> None:
    """One client span, child of the command, whose ids the server received."""
    cmd = spans.get("cli.fetch")
    client = spans.get("GET")
    assert client.kind.name == "CLIENT"
    assert client.parent.span_id == cmd.context.span_id
    assert client.context.trace_id == cmd.context.trace_id
    (headers,) = server.received
    trace_id, parent_id = traceparent_ids(headers["traceparent"])
    assert trace_id == hex_id(cmd.context.trace_id, 32)
    assert parent_id == hex_id(client.context.span_id, 16)  # the server's parent: the client span


# -- in process, captured in memory ----------------------------------------------------------------


def test_sync_client_request_carries_the_command_trace(server: HeaderServer) -> None:
    lazyotel.bootstrap(instrument=["httpx"])
    with lazyotel.testing.capture_spans() as spans, httpx.Client() as client:
        assert fetch(client, server.url) == "ok"
    check_propagated(spans, server)


def test_async_client_request_carries_the_command_trace(server: HeaderServer) -> None:
    lazyotel.bootstrap(instrument=["httpx"])

    async def main() -> str:
        async with httpx.AsyncClient() as client:
            return await fetch_async(client, server.url)

    with lazyotel.testing.capture_spans() as spans:
        assert asyncio.run(main()) == "ok"
    check_propagated(spans, server)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_clients_built_before_instrumentation_are_traced(server: HeaderServer, kind: str) -> None:
    """The instrumentor (0.66b2) wraps ``httpx.HTTPTransport.handle_request`` and
    ``httpx.AsyncHTTPTransport.handle_async_request`` on the classes, so clients that exist
    before the instrumentation is applied are covered too."""
    lazyotel.bootstrap(instrument=["httpx"])
    if kind == "sync":
        client = httpx.Client()
        with lazyotel.testing.capture_spans() as spans, client:
            assert fetch(client, server.url) == "ok"
    else:
        async_client = httpx.AsyncClient()

        async def main() -> str:
            async with async_client:
                return await fetch_async(async_client, server.url)

        with lazyotel.testing.capture_spans() as spans:
            assert asyncio.run(main()) == "ok"
    check_propagated(spans, server)


def test_tracestate_of_an_incoming_context_is_propagated(server: HeaderServer) -> None:
    from opentelemetry import context
    from opentelemetry.propagate import extract

    lazyotel.bootstrap(instrument=["httpx"])
    incoming = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=opaque,other=1",
    }
    with lazyotel.testing.capture_spans() as spans, httpx.Client() as client:
        token = context.attach(extract(incoming))
        try:
            fetch(client, server.url)
        finally:
            context.detach(token)
    check_propagated(spans, server)
    (headers,) = server.received
    assert traceparent_ids(headers["traceparent"])[0] == "0af7651916cd43dd8448eb211c80319c"
    assert headers["tracestate"] == "vendor=opaque,other=1"


def test_requests_outside_a_capture_carry_no_trace_context(server: HeaderServer) -> None:
    """Test mode: after the capture, the instrumentation records nothing and injects nothing."""
    lazyotel.bootstrap(instrument=["httpx"])
    with lazyotel.testing.capture_spans():
        pass
    with httpx.Client() as client:
        fetch(client, server.url)
    assert "traceparent" not in server.received[0]


def test_after_reset_httpx_is_not_instrumented(server: HeaderServer) -> None:
    lazyotel.bootstrap(instrument=["httpx"])
    with lazyotel.testing.capture_spans():
        pass
    assert type(vars(httpx.HTTPTransport)["handle_request"]).__name__ == "FunctionWrapper"
    lazyotel.testing.reset()
    assert type(vars(httpx.HTTPTransport)["handle_request"]).__name__ == "function"
    assert type(vars(httpx.AsyncHTTPTransport)["handle_async_request"]).__name__ == "function"
    with lazyotel.testing.capture_spans() as spans, httpx.Client() as client:
        fetch(client, server.url)
    assert spans.names() == ["cli.fetch"]
    assert "traceparent" not in server.received[0]


# -- the whole path: a child process exporting to a real OTLP receiver ----------------------------


def run_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, str(CLI), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert (child.returncode, child.stderr) == (0, ""), child.stderr
    (line,) = child.stdout.splitlines()  # nothing else on stdout
    return json.loads(line)  # type: ignore[no-any-return]


def child_env(subprocess_env: dict[str, str], receiver: OTLPReceiver) -> dict[str, str]:
    return {
        **subprocess_env,
        "LAZYOTEL_MODE": "on",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": receiver.protocol,
    }


@pytest.fixture(params=["http/protobuf", "grpc"])
def receiver(request: pytest.FixtureRequest) -> Iterator[OTLPReceiver]:
    if request.param == "grpc":
        pytest.importorskip("grpc")
        pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc")
    with OTLPReceiver(protocol=request.param) as rec:
        yield rec


@pytest.mark.parametrize("how", ["sync", "async", "early"])
def test_command_and_client_span_arrive_in_one_trace(
    subprocess_env: dict[str, str], receiver: OTLPReceiver, server: HeaderServer, how: str
) -> None:
    """``early``: httpx imported and the client built before telemetry started."""
    report = run_cli(child_env(subprocess_env, receiver), how, server.url)
    assert report["handle_request"] == "FunctionWrapper"
    assert "opentelemetry.instrumentation.httpx" in report["modules"]
    spans = {span.name: span for span in receiver.wait_for(2)}
    assert sorted(spans) == ["GET", "cli.fetch"]
    cmd, client = spans["cli.fetch"], spans["GET"]
    assert client.trace_id == cmd.trace_id
    assert client.parent_span_id == cmd.span_id
    assert cmd.parent_span_id is None
    assert client.kind == "CLIENT"
    for span in (cmd, client):
        assert span.resource["service.name"] == "instr-app"
        assert span.resource["deployment.environment"] == "ci"
    assert cmd.attributes["cli.command"] == "fetch"
    assert server.url in cmd.attributes["cli.args"]
    assert client.scope == "opentelemetry.instrumentation.httpx"
    attrs = client.attributes
    assert attrs.get("http.status_code", attrs.get("http.response.status_code")) == 200
    assert attrs.get("http.url", attrs.get("url.full")) == server.url
    (headers,) = server.received
    assert traceparent_ids(headers["traceparent"]) == (cmd.trace_id, client.span_id)


def test_a_command_that_never_imports_httpx_loads_nothing_of_it(
    subprocess_env: dict[str, str], receiver: OTLPReceiver
) -> None:
    report = run_cli(child_env(subprocess_env, receiver), "none")
    assert report["handle_request"] is None
    assert [m for m in report["modules"] if not m.startswith("importlib.metadata")] == []
    (span,) = receiver.wait_for(1)
    assert span.name == "cli.fetch"
