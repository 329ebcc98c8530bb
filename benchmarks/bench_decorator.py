"""What ``@lazyotel.trace_command`` costs per call, next to what CLIs write by hand.

Run it as ``python benchmarks/bench_decorator.py`` (prints a table), or call ``main()`` from a
suite runner (returns the rows). Each side runs in a fresh interpreter:

- ``off``: ``LAZYOTEL_MODE=off``. A bypassed call's overhead over a raw call, in ns, for
  lazyotel, for a bare ``*args, **kwargs`` pass-through (the floor any Python wrapper that
  keeps the signature without generating code pays), and for the hand-written pattern: a
  ``functools.wraps`` wrapper that reads ``os.environ`` on every call. Both call shapes:
  keywords (how typer and click call a command) and positional (the cheapest call).
- ``on``: ``LAZYOTEL_MODE=on``, an SDK ``TracerProvider`` installed as the global provider
  (lazyotel adopts it) with a ``SimpleSpanProcessor`` and an exporter that drops everything
  (no thread, no network). The time per call as a ratio to a hand-written
  ``with tracer.start_as_current_span(name, attributes=...)`` that sets the same attributes
  (``cli.args`` by ``json.dumps``) with an SDK tracer made once; and the same ratio for the
  hand-written pattern, which also calls ``trace.get_tracer`` on every call.

The candidates run interleaved, round after round, in one process; the figures are medians
of the rounds (each round is the best of ``timeit``'s repeats).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import clean_env  # after the path set-up, so the script runs from anywhere

ROOT = Path(__file__).resolve().parent.parent

ROUNDS = 11
NUMBER_OFF = 200_000
NUMBER_ON = 2_000

# The child: one side of the benchmark. It prints one JSON object {candidate: [seconds...]}.
CHILD = r'''
import functools, json, os, sys, timeit

side, rounds, number = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import lazyotel


def command(name, count=1, verbose=False):
    return count


def hand_written(fn):
    """What CLIs write today: read the environment and get a tracer on every call."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if os.environ.get("MYCLI_TRACING", "") != "1":
            return fn(*args, **kwargs)
        from opentelemetry import trace

        tracer = trace.get_tracer(__name__)
        with tracer.start_as_current_span(
            "cli." + fn.__name__,
            attributes={"cli.command": fn.__name__,
                        "cli.args": json.dumps({"args": list(args), "kwargs": kwargs}, default=repr)},
        ):
            return fn(*args, **kwargs)

    return wrapper


def pass_through(fn):
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


candidates = {"traced": lazyotel.trace_command(command), "hand_written": hand_written(command)}
if side == "off":
    candidates["raw"] = command
    candidates["pass_through"] = pass_through(command)
else:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        seen = []

        def export(self, spans):
            self.seen[:] = [span.name for span in spans]
            return SpanExportResult.SUCCESS

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)  # lazyotel adopts it: one pipeline for every candidate
    os.environ["MYCLI_TRACING"] = "1"
    tracer = provider.get_tracer(__name__)

    def span_by_hand(*args, **kwargs):
        with tracer.start_as_current_span(
            "cli.command",
            attributes={"cli.command": "command",
                        "cli.args": json.dumps({"args": list(args), "kwargs": kwargs}, default=repr)},
        ):
            return command(*args, **kwargs)

    candidates["span_by_hand"] = span_by_hand
    for name, fn in candidates.items():  # each candidate really makes its span
        Drop.seen.clear()
        fn("demo", count=3, verbose=True)
        if Drop.seen != ["cli.command"]:
            raise SystemExit(f"{name} made no span: {Drop.seen}")

# typer and click call commands with keywords; the positional form is the cheapest call.
shapes = {"kwargs": "fn('demo', count=3, verbose=True)", "positional": "fn('demo', 3, True)"}
if side == "on":
    del shapes["positional"]
for fn in candidates.values():  # warm up: activation, first imports, caches
    timeit.timeit(shapes["kwargs"], globals={"fn": fn}, number=max(number // 10, 100))
times = {f"{name}/{shape}": [] for shape in shapes for name in candidates}
for _ in range(rounds):
    for shape, stmt in shapes.items():
        for name, fn in candidates.items():
            best = min(timeit.repeat(stmt, globals={"fn": fn}, number=number, repeat=3))
            times[f"{name}/{shape}"].append(best / number)
print(json.dumps(times))
'''


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _run(side: str, rounds: int, number: int) -> dict[str, float]:
    env = clean_env(LAZYOTEL_MODE=side)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, side, str(rounds), str(number)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return {name: _median(values) for name, values in json.loads(out.stdout).items()}


def main(
    rounds: int = ROUNDS, number_off: int = NUMBER_OFF, number_on: int = NUMBER_ON
) -> list[dict[str, object]]:
    """Run both sides and return the rows of the table.

    Args:
        rounds: Interleaved rounds per side (the figures are their medians).
        number_off: Calls per timing in the bypassed side.
        number_on: Calls per timing in the traced side.

    Returns:
        One dict per row: ``case``, ``candidate``, ``figure``, ``unit`` and ``per_call_ns``.
    """
    off = _run("off", rounds, number_off)
    on = _run("on", rounds, number_on)
    span = on["span_by_hand/kwargs"]
    rows: list[dict[str, object]] = []
    for shape in ("kwargs", "positional"):
        raw = off[f"raw/{shape}"]
        for candidate in ("traced", "pass_through", "hand_written"):
            rows.append(
                {
                    "case": f"bypassed, {shape}",
                    "candidate": candidate,
                    "figure": round((off[f"{candidate}/{shape}"] - raw) * 1e9, 1),
                    "unit": "ns over raw",
                    "per_call_ns": round(off[f"{candidate}/{shape}"] * 1e9, 1),
                }
            )
        rows.append(
            {
                "case": f"bypassed, {shape}",
                "candidate": "raw call",
                "figure": 0.0,
                "unit": "ns over raw",
                "per_call_ns": round(raw * 1e9, 1),
            }
        )
    for candidate in ("traced", "hand_written", "span_by_hand"):
        rows.append(
            {
                "case": "traced (on)",
                "candidate": candidate,
                "figure": round(on[f"{candidate}/kwargs"] / span, 2),
                "unit": "x span by hand",
                "per_call_ns": round(on[f"{candidate}/kwargs"] * 1e9, 1),
            }
        )
    return rows


def _print(rows: list[dict[str, object]]) -> None:
    header = f"{'case':<22} {'candidate':<14} {'figure':>10} {'unit':<16} {'per call':>12}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['case']:<22} {row['candidate']:<14} {row['figure']:>10} {row['unit']:<16} "
            f"{row['per_call_ns']:>9} ns"
        )


if __name__ == "__main__":
    _print(main())
