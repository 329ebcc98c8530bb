"""What tracing httpx costs a process: lazyotel's light instrumentation against the contrib one.

Run it as ``python benchmarks/bench_httpx_lite.py [--rounds N] [--no-callgrind]`` (prints a
table), or call ``main()`` from ``benchmarks/run_all.py`` (returns the rows). Each figure is
a fresh interpreter that imports httpx and the OpenTelemetry API, instruments (or not), and
makes one GET to a local HTTP server inside a span:

- ``none``: no instrumentation (the floor);
- ``contrib``: ``HTTPXClientInstrumentor().instrument()`` (opentelemetry-instrumentation-httpx);
- ``lite``: ``lazyotel._httpx.instrument(httpx, ApiKit())``, the same spans.

Two settings: ``API only`` (no tracer provider: the API's no-op, what importing and patching
cost) and ``recorder`` (lazyotel's recording provider, as hand-off mode installs it: the
spans are really made, kept in a list). Instructions are counted by ``valgrind
--tool=callgrind`` (whole process, ``PYTHONHASHSEED=0``: the count repeats to within a fraction
of a percent); wall-clock medians of interleaved rounds are shown for scale (+-30 % on shared
cores). Each traced run is checked: the server received the client span's ``traceparent``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # after the path set-up, so the script runs from anywhere
    PYTHON,
    Run,
    Variant,
    callgrind_instructions,
    clean_env,
    interleave,
    median_seconds,
    ms,
    print_table,
)

ROUNDS = 10
INSTRUMENTATIONS = ("none", "contrib", "lite")
SETTINGS = ("API only", "recorder")

# The child: argv: instrumentation, setting, url[, requests]. Prints the number of spans recorded.
CHILD = r"""
import sys

instrumentation, setting, url = sys.argv[1:4]
requests = int(sys.argv[4]) if len(sys.argv) > 4 else 1
import httpx
from opentelemetry import trace

spans = []
if setting == "recorder":
    from lazyotel import _recorder

    resource = _recorder.build_resource({"service.name": "bench"}, version="0")
    trace.set_tracer_provider(_recorder.RecordingProvider(spans.append, resource=resource))
if instrumentation == "contrib":
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
elif instrumentation == "lite":
    from lazyotel import _httpx

    _httpx.instrument(httpx, _httpx.ApiKit())
with trace.get_tracer("bench").start_as_current_span("cli.command"):
    with httpx.Client() as client:
        for _ in range(requests):
            client.get(url).raise_for_status()
print(len(spans))
"""


class _Server:
    """A local HTTP server answering ``ok``; remembers the ``traceparent`` of each request."""

    def __init__(self) -> None:
        seen = self.traceparents = []  # type: list[str | None]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("traceparent"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _argv(instrumentation: str, setting: str, url: str, requests: int = 1) -> list[str]:
    return [PYTHON, "-c", CHILD, instrumentation, setting, url, str(requests)]


def _checker(server: _Server, instrumentation: str, setting: str) -> Any:
    traced = setting == "recorder" and instrumentation != "none"

    def check(run: Run) -> None:
        if run.returncode != 0:
            msg = f"{instrumentation}/{setting} exited {run.returncode}:\n{run.stderr[-2000:]}"
            raise RuntimeError(msg)
        spans = int(run.stdout.strip() or 0)
        header = server.traceparents[-1] if server.traceparents else None
        expected = 2 if traced else (1 if setting == "recorder" else 0)
        if spans != expected or (header is not None) != traced:
            msg = f"{instrumentation}/{setting}: {spans} spans, traceparent {header!r}"
            raise RuntimeError(msg)

    return check


def main(rounds: int = ROUNDS, callgrind: bool | None = None) -> list[dict[str, object]]:
    """Measure every instrumentation in both settings; return the rows of the table.

    Args:
        rounds: interleaved rounds for the wall-clock medians.
        callgrind: count instructions too (default: when ``valgrind`` is installed).
    """
    if callgrind is None:
        callgrind = shutil.which("valgrind") is not None
    env = clean_env()
    server = _Server()
    rows: list[dict[str, object]] = []
    try:
        for setting in SETTINGS:
            variants = {
                name: Variant(_argv(name, setting, server.url), env, check=_checker(server, name, setting))
                for name in INSTRUMENTATIONS
            }
            wall = {name: median_seconds(runs) for name, runs in interleave(variants, rounds).items()}
            count: dict[str, int] = {}
            if callgrind:
                for name in INSTRUMENTATIONS:
                    count[name] = callgrind_instructions(_argv(name, setting, server.url), env)
                    _checker(server, name, setting)  # the last request was this run's
            for name in ("contrib", "lite"):
                row: dict[str, object] = {
                    "benchmark": f"{setting}: import httpx + instrument + 1 GET",
                    "a": name,
                    "b": "none",
                    "detail": f"wall {ms(wall[name])} vs {ms(wall['none'])} ({rounds} rounds, medians)",
                    "goal": "lite <= 1.03x" if name == "lite" else "",
                }
                if count:
                    row["ratio"] = count[name] / count["none"]
                    row["a"] = f"{name} {count[name] / 1e6:,.0f}M instr"
                    row["b"] = f"none {count['none'] / 1e6:,.0f}M instr"
                else:
                    row["ratio"] = wall[name] / wall["none"]
                rows.append(row)
        if callgrind:
            rows.extend(_per_request(server, env))
    finally:
        server.close()
    return rows


def _per_request(server: _Server, env: dict[str, str], more: int = 20) -> list[dict[str, object]]:
    """Instructions per traced request, recorder setting: (process with 1 + ``more`` GETs -
    the process with 1) / ``more``, for each instrumentation."""
    extra = {}
    for name in INSTRUMENTATIONS:
        one = callgrind_instructions(_argv(name, "recorder", server.url), env)
        many = callgrind_instructions(_argv(name, "recorder", server.url, 1 + more), env)
        extra[name] = (many - one) / more
    return [
        {
            "benchmark": "recorder: instructions per GET (keep-alive client)",
            "a": f"{name} {extra[name] / 1e3:,.0f}K",
            "b": f"none {extra['none'] / 1e3:,.0f}K",
            "ratio": extra[name] / extra["none"],
            "goal": "",
            "detail": f"(process with {1 + more} GETs - with 1) / {more}",
        }
        for name in ("contrib", "lite")
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-callgrind", action="store_true", help="wall clock only")
    args = parser.parse_args()
    os.environ.pop("PYTHONHASHSEED", None)
    print_table(
        main(args.rounds, callgrind=False if args.no_callgrind else None),
        ["benchmark", "a", "b", "ratio", "goal", "detail"],
    )
