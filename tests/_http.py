"""Real HTTP servers on 127.0.0.1: what headers did requests carry (the propagation tests), and a
small OTLP/HTTP collector that answers slowly, records paths, or refuses (delivery tests)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HeaderServer:
    """An HTTP server on 127.0.0.1 answering 200 (or 500 on /fail), recording request headers."""

    def __init__(self) -> None:
        received = self.received = []  # type: list[dict[str, str]]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                received.append({k.lower(): v for k, v in self.headers.items()})
                code = 500 if self.path == "/fail" else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = f"{self.base}/items"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class PathServer:
    """Answers every POST after ``delay`` seconds with ``status``; records paths and spans."""

    def __init__(self, delay: float = 0.0, status: int = 200) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

        self.paths: list[str] = []
        self.spans = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                request = pb.ExportTraceServiceRequest.FromString(body)
                count = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                with lock:
                    server.paths.append(self.path)
                    if status == 200:
                        server.spans += count
                payload = pb.ExportTraceServiceResponse().SerializeToString() if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> PathServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
