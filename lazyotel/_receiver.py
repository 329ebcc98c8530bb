"""A real OTLP trace receiver on 127.0.0.1: ``lazyotel.testing.OTLPReceiver``.

For users' end-to-end tests, lazyotel's own tests, the demo and ``python -m lazyotel receive``.
It decodes the real protobuf (``opentelemetry-proto``; gRPC through ``grpcio``: both come with
the ``lazyotel[testing]`` extra), so a test sees exactly what a collector would see::

    with OTLPReceiver() as receiver:                      # or protocol="grpc"
        run_child(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        (span,) = receiver.wait_for(1)
        assert span.name == "cli.deploy"
        assert span.resource["service.name"] == "shop"

``behaviour="silent"`` accepts connections and never answers (a hung collector);
``refused_endpoint()`` gives a URL whose port refuses connections (a dead one).

Importing this module is cheap: the servers, ``grpc`` and the protobuf classes are imported
when a receiver starts. ``lazyotel._tree.draw_trace`` draws what it received.
"""

from __future__ import annotations

import contextlib
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = [
    "OTLPReceiver",
    "ReceivedEvent",
    "ReceivedExport",
    "ReceivedSpan",
    "refused_endpoint",
]

PROTOCOLS = ("http/protobuf", "grpc")
#: What each protocol needs beyond the standard library (module -> distribution).
_NEEDS = {
    "http/protobuf": {"opentelemetry.proto": "opentelemetry-proto"},
    "grpc": {"opentelemetry.proto": "opentelemetry-proto", "grpc": "grpcio"},
}
BEHAVIOURS = ("ok", "silent")
TRACES_PATH = "/v1/traces"


class _Record:
    """A plain value record whose fields are its class annotations: equality by fields, a repr."""

    def __init__(self, **fields: Any) -> None:
        names = self._fields()
        if set(fields) != set(names):
            msg = f"{type(self).__name__}: expected the fields {names}, got {sorted(fields)}"
            raise TypeError(msg)
        self.__dict__.update(fields)

    @classmethod
    def _fields(cls) -> list[str]:
        return list(cls.__annotations__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable dict fields

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields())
        return f"{type(self).__name__}({fields})"


class ReceivedEvent(_Record):
    """A span event as received."""

    name: str
    time_ns: int
    attributes: dict[str, Any]


class ReceivedSpan(_Record):
    """A span as received: ids are lower-case hex, enums are their short names.

    ``kind`` is ``"INTERNAL"``, ``"SERVER"``, ``"CLIENT"``, ``"PRODUCER"``, ``"CONSUMER"``
    (or ``"UNSPECIFIED"``); ``status_code`` is ``"UNSET"``, ``"OK"`` or ``"ERROR"``.
    ``attributes`` and ``resource`` hold plain Python values (str, int, float, bool, lists).
    """

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    kind: str
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    start_ns: int
    end_ns: int
    resource: dict[str, Any]
    scope: str


class ReceivedExport(_Record):
    """One export request: its headers (names lower-cased) and how many spans it carried."""

    headers: dict[str, str]
    span_count: int


def refused_endpoint() -> str:
    """A ``http://127.0.0.1:PORT`` URL whose port refuses connections (a dead collector)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- protobuf -> records ------------------------------------------------------------------------


def _value(any_value: Any) -> Any:
    """An ``AnyValue`` as a plain Python value."""
    which = any_value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if which == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, which)


def _attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def _enum_name(enum: Any, number: int, prefix: str) -> str:
    name: str = enum.Name(number)
    return name[len(prefix) :] if name.startswith(prefix) else name


def _spans(request: Any) -> list[ReceivedSpan]:
    """Flatten an ``ExportTraceServiceRequest`` into records."""
    from opentelemetry.proto.trace.v1 import trace_pb2

    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        kind=_enum_name(trace_pb2.Span.SpanKind, span.kind, "SPAN_KIND_"),
                        status_code=_enum_name(trace_pb2.Status.StatusCode, span.status.code, "STATUS_CODE_"),
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        events=[
                            ReceivedEvent(
                                name=e.name, time_ns=e.time_unix_nano, attributes=_attributes(e.attributes)
                            )
                            for e in span.events
                        ],
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return out


def _decompress(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` gzip or deflate (zlib-wrapped, as the exporter sends it, or raw)."""
    import zlib

    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        msg = f"unsupported Content-Encoding {encoding!r}"
        raise ValueError(msg)
    try:
        return zlib.decompress(body, zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    except zlib.error:
        return zlib.decompress(body, -zlib.MAX_WBITS)


# -- the receiver -------------------------------------------------------------------------------


class OTLPReceiver:
    """An OTLP trace collector on ``127.0.0.1`` (a free port) that records what it receives.

    Args:
        protocol: ``"http/protobuf"`` (POST ``/v1/traces``) or ``"grpc"``.
        behaviour: ``"ok"`` answers every export with success; ``"silent"`` accepts the
            connection, reads the request and never answers.
        port: The port to listen on; 0 (the default) picks a free one.

    Use it as a context manager (or call ``start()``/``stop()``). Every method is thread-safe.
    It needs the ``lazyotel[testing]`` extra: ``start()`` raises ``ImportError`` naming it when
    a package is missing.
    """

    def __init__(self, protocol: str = "http/protobuf", behaviour: str = "ok", port: int = 0) -> None:
        if protocol not in PROTOCOLS:
            msg = f"OTLPReceiver(protocol={protocol!r}): choose one of {', '.join(PROTOCOLS)}"
            raise ValueError(msg)
        if behaviour not in BEHAVIOURS:
            msg = f"OTLPReceiver(behaviour={behaviour!r}): choose one of {', '.join(BEHAVIOURS)}"
            raise ValueError(msg)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            msg = f"OTLPReceiver(port={port!r}): expected a port number from 0 to 65535 (0: a free port)"
            raise ValueError(msg)
        self.protocol = protocol
        self.behaviour = behaviour
        self._requested_port = port
        self.port = 0  # the bound port, once started
        self._changed = threading.Condition()
        self._spans: list[ReceivedSpan] = []
        self._exports: list[ReceivedExport] = []
        self._release = threading.Event()  # set on stop: silent handlers give up
        self._stoppers: list[Any] = []  # callables, run in reverse order by stop()

    @property
    def endpoint(self) -> str:
        """The base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_url(self) -> str:
        """The full OTLP/HTTP traces URL (``endpoint`` + ``/v1/traces``)."""
        return self.endpoint + TRACES_PATH

    # -- what arrived -----------------------------------------------------------------------

    @property
    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._spans)

    @property
    def exports(self) -> list[ReceivedExport]:
        """Every export request received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._exports)

    def names(self) -> list[str]:
        """The names of the spans received so far."""
        return [span.name for span in self.spans]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Wait until at least ``count`` spans arrived; return all spans received.

        Raises:
            TimeoutError: Fewer than ``count`` spans arrived within ``timeout`` seconds.
        """
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._spans) >= count, timeout):
                msg = f"expected at least {count} spans within {timeout}s, received {len(self._spans)}"
                raise TimeoutError(msg)
            return list(self._spans)

    def clear(self) -> None:
        """Forget what was received so far."""
        with self._changed:
            self._spans.clear()
            self._exports.clear()

    def _record(self, headers: Mapping[str, str], request: Any) -> None:
        spans = _spans(request)
        export = ReceivedExport(headers={k.lower(): v for k, v in headers.items()}, span_count=len(spans))
        with self._changed:
            self._exports.append(export)
            self._spans.extend(spans)
            self._changed.notify_all()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> OTLPReceiver:
        """Bind a free port on 127.0.0.1 and start serving; return self."""
        if self.port:
            msg = "OTLPReceiver is already started"
            raise RuntimeError(msg)
        self._check_packages()
        if self.protocol == "grpc":
            self._start_grpc()
        elif self.behaviour == "silent":
            self._start_silent_http()
        else:
            self._start_http()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; never waits on a client."""
        self._release.set()
        while self._stoppers:
            self._stoppers.pop()()

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<OTLPReceiver {self.protocol} {self.behaviour} {self.endpoint} spans={len(self.spans)}>"

    def _check_packages(self) -> None:
        import importlib.util

        for module, distribution in _NEEDS[self.protocol].items():
            try:
                found = importlib.util.find_spec(module) is not None
            except ImportError:  # a parent package is missing
                found = False
            if not found:
                msg = (
                    f"lazyotel.testing.OTLPReceiver(protocol={self.protocol!r}) needs {distribution}, "
                    "which is not installed; install it with: pip install 'lazyotel[testing]'"
                )
                raise ImportError(msg, name=module)

    def _serve(self, target: Any, name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=f"otlp-receiver-{name}", daemon=True)
        thread.start()
        return thread

    # -- OTLP/HTTP --------------------------------------------------------------------------

    def _start_http(self) -> None:
        import socket
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

        receiver = self
        open_connections: set[socket.socket] = set()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real collector

            def setup(self) -> None:
                super().setup()
                with lock:
                    open_connections.add(self.connection)

            def finish(self) -> None:
                with lock:
                    open_connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.split("?")[0] != TRACES_PATH:
                    self._answer(404, b"not found", "text/plain")
                    return
                try:
                    data = _decompress(body, self.headers.get("Content-Encoding", ""))
                    request = pb.ExportTraceServiceRequest.FromString(data)
                except Exception as exc:  # noqa: BLE001 - a bad request gets a 400, as a collector would
                    self._answer(400, f"bad request: {exc}".encode(), "text/plain")
                    return
                receiver._record(dict(self.headers.items()), request)
                self._answer(
                    200, pb.ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
                )

            def _answer(self, code: int, payload: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = self._serve(lambda: server.serve_forever(poll_interval=0.05), "http")

        def stop() -> None:
            server.shutdown()
            server.server_close()
            with lock:
                connections = list(open_connections)
            for conn in connections:  # wake handlers blocked on a kept-alive connection
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            thread.join()

        self._stoppers.append(stop)

    def _start_silent_http(self) -> None:
        """A raw socket server: accepts, reads and holds every connection, answers nothing."""
        import socket

        listener = socket.create_server(("127.0.0.1", self._requested_port))
        listener.settimeout(0.05)  # so the accept loop sees stop()
        self.port = listener.getsockname()[1]
        held: list[socket.socket] = []

        def hold(conn: socket.socket) -> None:
            with conn:
                while conn.recv(65536):  # read everything, answer nothing, until either side closes
                    pass

        def accept() -> None:
            while not self._release.is_set():
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, socket.timeout):  # socket.timeout: Python < 3.10
                    continue
                conn.settimeout(None)
                held.append(conn)
                self._serve(hold, "silent-conn", conn)

        thread = self._serve(accept, "silent-http")

        def stop() -> None:
            thread.join()
            listener.close()
            for conn in held:  # wakes the readers: recv() returns b""
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

        self._stoppers.append(stop)

    # -- OTLP/gRPC --------------------------------------------------------------------------

    def _start_grpc(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as pb_grpc

        receiver = self

        class Servicer(pb_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # the generated name
                if receiver.behaviour == "silent":
                    receiver._release.wait()  # hold the call until the receiver stops
                    context.abort(grpc.StatusCode.UNAVAILABLE, "receiver stopped")
                receiver._record(dict(context.invocation_metadata()), request)
                return pb.ExportTraceServiceResponse()

        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-receiver-grpc")
        server = grpc.server(executor)
        pb_grpc.add_TraceServiceServicer_to_server(Servicer(), server)  # type: ignore[no-untyped-call]
        self.port = server.add_insecure_port(f"127.0.0.1:{self._requested_port}")
        if not self.port:  # grpc returns 0 instead of raising when the port is taken
            executor.shutdown(wait=False)
            msg = f"OTLPReceiver: cannot listen on 127.0.0.1:{self._requested_port} (in use?)"
            raise OSError(msg)
        server.start()

        def stop() -> None:
            server.stop(grace=0).wait(5)
            executor.shutdown(wait=True)

        self._stoppers.append(stop)
