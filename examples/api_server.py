"""The trading API the ktrade example calls: stdlib HTTP on 127.0.0.1, traced with the SDK.

Every request gets a SERVER span that joins the caller's trace (``traceparent`` is read with
``opentelemetry.propagate.extract``) and is exported over OTLP/HTTP to ``otlp_endpoint``, so a
trace shows CLI span -> HTTP client span -> server span. The server is a plain SDK user, not
lazyotel: it stands for "some other service" in the trace::

    with ApiServer(otlp_endpoint=receiver.endpoint) as api:
        run("python -m examples.ktrade --url", api.url, "data", "load", "EURUSD")

    python -m examples.api_server --port 8000 --otlp-endpoint http://127.0.0.1:4318

Operations advance one step each time their status is read; ``/api/v1/quotes/...`` is a flaky
upstream feed that answers 503 to ``flaky`` requests out of every ``flaky + 1``, so the
``data quote`` command has something to retry.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qs

from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode

Reply = tuple[int, dict[str, Any]]
SYMBOLS = ["AAPL", "EURUSD", "GBPUSD", "MSFT", "USDJPY"]
MODELS = {
    "momentum": "SMA crossover, 10/30",
    "meanrev": "Bollinger mean reversion, 20/2",
    "breakout": "Donchian 55",
}


class Backend:
    """The API's state: operations that advance when polled, and a flaky quote feed."""

    def __init__(self, flaky: int = 2) -> None:
        self.flaky = flaky
        self.lock = threading.Lock()
        self.operations: dict[str, dict[str, Any]] = {}
        self.quote_calls: dict[str, int] = {}

    def bars(self, symbol: str, timeframe: str, rows: int) -> list[dict[str, Any]]:
        """A deterministic random walk: the same symbol and timeframe always give the same bars."""
        rng = random.Random(f"{symbol}:{timeframe}")
        price, out = 100.0 + rng.random() * 50, []
        for i in range(rows):
            open_, close = price, price * (1 + rng.gauss(0, 0.004))
            high, low = (
                max(open_, close) * (1 + rng.random() / 500),
                min(open_, close) * (1 - rng.random() / 500),
            )
            volume = rng.randint(1_000, 50_000)
            out.append({"i": i, "open": open_, "high": high, "low": low, "close": close, "volume": volume})
            price = close
        return out

    def start(self, kind: str, steps: int, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            op_id = f"op_{kind}_{len(self.operations) + 1:04d}"
            op = {"operation_id": op_id, "type": kind, "status": "running", "progress": 0.0, "params": params}
            self.operations[op_id] = {**op, "steps": max(steps, 1), "done": 0}
            return op

    def poll(self, op_id: str) -> dict[str, Any] | None:
        with self.lock:
            op = self.operations.get(op_id)
            if op is None:
                return None
            if op["status"] == "running":
                op["done"] += 1
                op["progress"] = round(op["done"] / op["steps"], 4)
                if op["done"] >= op["steps"]:
                    op["status"] = "completed"
            return _public(op)

    def quote_ready(self, symbol: str) -> bool:
        with self.lock:
            calls = self.quote_calls[symbol] = self.quote_calls.get(symbol, 0) + 1
            return calls % (self.flaky + 1) == 0


def _public(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k not in ("steps", "done")}


# -- routes: (method, template) -> handler(call) -> (status, JSON payload) -------------------------


class Call:
    """One request, as a route handler sees it."""

    __slots__ = ("backend", "body", "params", "query")

    def __init__(self, backend: Backend, params: dict[str, str], query: dict[str, str], body: Any) -> None:
        self.backend, self.params, self.query, self.body = backend, params, query, body


def _health(c: Call) -> Reply:
    return 200, {"status": "ok", "operations": len(c.backend.operations)}


def _symbols(c: Call) -> Reply:
    return 200, {"symbols": SYMBOLS}


def _data(c: Call) -> Reply:
    symbol, timeframe = c.params["symbol"].upper(), c.query.get("timeframe", "1h")
    if symbol not in SYMBOLS:
        return 404, {"detail": f"unknown symbol {symbol}"}
    rows = min(int(c.query.get("rows", "200")), 5000)
    return 200, {"symbol": symbol, "timeframe": timeframe, "bars": c.backend.bars(symbol, timeframe, rows)}


def _load(c: Call) -> Reply:
    return 202, c.backend.start("data_load", 4, c.body)


def _quote(c: Call) -> Reply:
    symbol = c.params["symbol"].upper()
    if not c.backend.quote_ready(symbol):
        return 503, {"detail": "upstream feed busy, retry"}
    last = c.backend.bars(symbol, "1m", 50)[-1]["close"]
    return 200, {"symbol": symbol, "bid": round(last * 0.9999, 5), "ask": round(last * 1.0001, 5)}


def _models(c: Call) -> Reply:
    return 200, {"models": [{"name": k, "description": v} for k, v in MODELS.items()]}


def _model(c: Call) -> Reply:
    name = c.params["name"]
    if name not in MODELS:
        return 404, {"detail": f"unknown model {name}"}
    return 200, {"name": name, "description": MODELS[name], "features": ["close", "volume"], "version": 3}


def _train(c: Call) -> Reply:
    return 202, c.backend.start("train", int(c.body.get("epochs", 10)), c.body)


def _operations(c: Call) -> Reply:
    with c.backend.lock:
        return 200, {"operations": [_public(op) for op in c.backend.operations.values()]}


def _operation(c: Call) -> Reply:
    op = c.backend.poll(c.params["operation_id"])
    return (404, {"detail": "no such operation"}) if op is None else (200, op)


def _cancel(c: Call) -> Reply:
    with c.backend.lock:
        op = c.backend.operations.get(c.params["operation_id"])
        if op is None:
            return 404, {"detail": "no such operation"}
        if op["status"] == "running":
            op["status"] = "cancelled"
        return 200, _public(op)


ROUTES: list[tuple[str, str, Callable[..., Reply]]] = [
    ("GET", "/api/v1/health", _health),
    ("GET", "/api/v1/symbols", _symbols),
    ("GET", "/api/v1/data/{symbol}", _data),
    ("POST", "/api/v1/data/load", _load),
    ("GET", "/api/v1/quotes/{symbol}", _quote),
    ("GET", "/api/v1/models", _models),
    ("GET", "/api/v1/models/{name}", _model),
    ("POST", "/api/v1/models/train", _train),
    ("GET", "/api/v1/operations", _operations),
    ("GET", "/api/v1/operations/{operation_id}", _operation),
    ("POST", "/api/v1/operations/{operation_id}/cancel", _cancel),
]


def match(method: str, path: str) -> tuple[Callable[..., Reply] | None, str | None, dict[str, str]]:
    """The handler, route template and path parameters for a request (None when unrouted)."""
    parts = path.rstrip("/").split("/")
    for verb, template, handler in ROUTES:
        pattern = template.split("/")
        if verb != method or len(pattern) != len(parts):
            continue
        params = {t[1:-1]: s for t, s in zip(pattern, parts) if t.startswith("{")}
        if all(t == s for t, s in zip(pattern, parts) if not t.startswith("{")):
            return handler, template, params
    return None, None, {}


# -- the server -----------------------------------------------------------------------------------


def _tracing(otlp_endpoint: str | None) -> tuple[Any, Any]:
    """A private SDK provider exporting to ``otlp_endpoint`` (or a no-op tracer without one)."""
    if not otlp_endpoint:
        return trace.NoOpTracer(), None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": "ktrade-api"}), shutdown_on_exit=False
    )
    exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces", timeout=2)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    return provider.get_tracer("examples.api_server"), provider


class ApiServer:
    """The API on ``127.0.0.1:port`` (0: a free port), in background threads; a context manager.

    Args:
        port: The port to listen on; 0 picks a free one (see ``url``).
        otlp_endpoint: The collector's base URL for the server spans; None: no spans exported.
        flaky: The quote feed answers 503 to this many requests out of every ``flaky + 1``.
    """

    def __init__(self, port: int = 0, otlp_endpoint: str | None = None, flaky: int = 2) -> None:
        self.backend = Backend(flaky)
        self.tracer, self.provider = _tracing(otlp_endpoint)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        target = self.server.serve_forever
        self._thread = threading.Thread(target=target, args=(0.05,), name="ktrade-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and flush the server spans."""
        self.server.shutdown()
        self.server.server_close()
        if self.provider is not None:
            self.provider.shutdown()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from a real API

            def do_GET(self) -> None:
                api.handle(self, "GET")

            def do_POST(self) -> None:
                api.handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path, _, query_string = request.path.partition("?")
        handler, route, params = match(method, path)
        headers = {key.lower(): value for key, value in request.headers.items()}
        attributes = {"http.request.method": method, "url.path": path, "server.port": self.port}
        if route:
            attributes["http.route"] = route
        name = f"{method} {route}" if route else method
        # The caller's traceparent makes this span a child of its HTTP client span.
        with self.tracer.start_as_current_span(
            name, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            if handler is None:
                status, payload = 404, {"detail": f"no route for {method} {path}"}
            else:
                query = {k: v[-1] for k, v in parse_qs(query_string).items()}
                try:
                    body = json.loads(raw) if raw else {}
                    status, payload = handler(Call(self.backend, params, query, body))
                except (ValueError, KeyError) as exc:
                    status, payload = 400, {"detail": f"bad request: {exc}"}
            span.set_attribute("http.response.status_code", status)
            if "operation_id" in payload:
                span.set_attribute("operation.id", payload["operation_id"])
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            data = json.dumps(payload).encode()
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            if status == 503:
                request.send_header("Retry-After", "0")
            request.end_headers()
            request.wfile.write(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The ktrade example's API server (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free port)")
    parser.add_argument("--otlp-endpoint", help="collector base URL for the server spans (OTLP/HTTP)")
    parser.add_argument("--flaky", type=int, default=2, help="503s before each successful quote")
    args = parser.parse_args(argv)
    api = ApiServer(args.port, args.otlp_endpoint, args.flaky)
    print(f"ktrade API on {api.url} (Ctrl-C to stop)", flush=True)
    try:
        api.server.serve_forever(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        api.server.server_close()
        if api.provider is not None:
            api.provider.shutdown()


if __name__ == "__main__":
    main()
