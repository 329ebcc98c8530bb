"""What ``bootstrap(instrument=["httpx"])`` costs a whole CLI run, next to instrumenting eagerly.

Run it as ``python benchmarks/bench_instrument.py [--rounds N]`` (prints a table), or call
``main()`` from a suite runner (returns the rows). Every run is a fresh interpreter, timed
from spawn to exit by the parent, for two commands:

- ``request``: the command imports httpx and makes one GET to a local HTTP server;
- ``none``: the command makes no request (and never imports httpx).

Candidates, all exporting to a console exporter on stderr (discarded), so nothing but the
loopback request touches the network:

- ``untraced``: the same command, no telemetry at all (the floor);
- ``lazyotel``: ``lazyotel.bootstrap(instrument=["httpx"])``, the command under a span;
- ``lazyotel, no instrument``: the same without ``instrument`` (what arming costs);
- ``lazyotel + import wrapt``: ``lazyotel`` that also imports wrapt at activation, what a
  ``wrapt.when_imported`` hook would add (lazyotel uses its own import hook instead);
- ``eager``: the hand-written set-up CLIs use today: SDK provider, batch processor and
  ``HTTPXClientInstrumentor().instrument()`` at start.

Rounds are interleaved (each round runs every candidate once, in a rotated order); the
figures are medians. One checked run per candidate first proves the traced ones really send
``traceparent`` (and warms the bytecode caches).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import clean_env  # after the path set-up, so the script runs from anywhere

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 15
CASES = ("request", "none")
CANDIDATES = ("untraced", "lazyotel", "lazyotel, no instrument", "lazyotel + import wrapt", "eager")
TRACED = ("lazyotel", "lazyotel + import wrapt", "eager")

# The child: one CLI run. argv: candidate, case, url.
CHILD = r"""
import sys

candidate, case, url = sys.argv[1:4]
if candidate == "eager":
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    tracer = trace.get_tracer("bench")
elif candidate.startswith("lazyotel"):
    import lazyotel

    instrument = () if candidate == "lazyotel, no instrument" else ["httpx"]
    lazyotel.bootstrap("bench", exporter="console", instrument=instrument)
    tracer = lazyotel.get_tracer("bench")
else:
    tracer = None


def command():
    if candidate == "lazyotel + import wrapt":
        import wrapt  # noqa: F401
    if case == "request":
        import httpx

        with httpx.Client() as client:
            client.get(url).raise_for_status()


if tracer is None:
    command()
else:
    with tracer.start_as_current_span("cli.command"):
        command()
"""


class _Server:
    """A local HTTP server answering ``ok``; remembers whether the last request was traced."""

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


def _env() -> dict[str, str]:
    return clean_env(LAZYOTEL_MODE="on")  # start-up figures need cached bytecode: pyc writing on


def _run(candidate: str, case: str, url: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CHILD, candidate, case, url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )
    return time.perf_counter() - start


def _check(server: _Server, env: dict[str, str]) -> None:
    """One run per candidate: the traced ones must send ``traceparent``, the others not."""
    for candidate in CANDIDATES:
        server.traceparents.clear()
        _run(candidate, "request", server.url, env)
        traced = server.traceparents[-1] is not None
        if traced != (candidate in TRACED):
            msg = f"{candidate}: traceparent {'sent' if traced else 'missing'}; the benchmark is broken"
            raise RuntimeError(msg)
        _run(candidate, "none", server.url, env)


def main(rounds: int = ROUNDS) -> list[dict[str, object]]:
    """Run every candidate for both commands and return the rows of the table.

    Args:
        rounds: Interleaved rounds (the figures are their medians).

    Returns:
        One dict per row: ``case``, ``candidate``, ``median_ms``, ``over_untraced_ms`` and
        ``x_eager`` (the median as a ratio to the eager set-up's).
    """
    server = _Server()
    env = _env()
    try:
        _check(server, env)
        times: dict[tuple[str, str], list[float]] = {(c, k): [] for c in CASES for k in CANDIDATES}
        jobs = [(case, candidate) for case in CASES for candidate in CANDIDATES]
        for round_ in range(rounds):
            shift = round_ % len(jobs)
            for case, candidate in jobs[shift:] + jobs[:shift]:
                times[case, candidate].append(_run(candidate, case, server.url, env))
    finally:
        server.close()
    rows: list[dict[str, object]] = []
    for case in CASES:
        medians = {k: statistics.median(times[case, k]) for k in CANDIDATES}
        for candidate in CANDIDATES:
            rows.append(
                {
                    "case": case,
                    "candidate": candidate,
                    "median_ms": round(medians[candidate] * 1e3, 1),
                    "over_untraced_ms": round((medians[candidate] - medians["untraced"]) * 1e3, 1),
                    "x_eager": round(medians[candidate] / medians["eager"], 2),
                }
            )
    return rows


def _print(rows: list[dict[str, object]]) -> None:
    header = f"{'command':<9} {'candidate':<25} {'median':>9} {'over untraced':>14} {'x eager':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['case']:<9} {row['candidate']:<25} {row['median_ms']:>6} ms "
            f"{row['over_untraced_ms']:>11} ms {row['x_eager']:>8}"
        )


if __name__ == "__main__":
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    _print(main(rounds))
