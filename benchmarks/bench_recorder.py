"""What recording costs: lazyotel's recorder (``lazyotel._recorder``, the API only) against the SDK.

Run it as ``python benchmarks/bench_recorder.py [--rounds N] [--spans N] [--no-callgrind]``
(prints a table), or call ``main()`` from ``benchmarks/run_all.py`` (returns the rows).
Wall-clock ratios on shared cores swing by +-30 % run to run, so the figures that must hold to
a few percent are also counted in instructions with ``valgrind --tool=callgrind`` (whole
process, ``PYTHONHASHSEED=0``: the count repeats to within a fraction of a percent).

- **per span**: one ``start_as_current_span`` with two attributes and one event, ended, and
  handed over (recorder: to a list sink; SDK: ``TracerProvider`` + a span processor that keeps
  the span in a list, the same hand-over without export). Wall: both in one process,
  interleaved rounds, medians (goal: recorder <= 0.5x SDK). Instructions: (process with N
  spans - the same process with 0 spans) / N.
- **import + provider**: after ``import lazyotel``, importing and building a provider with
  its resource: the recorder against the SDK (``TracerProvider(resource=Resource.create(...))``),
  with ``import opentelemetry.trace`` alone for scale. Instructions and wall.
- **minimal typer app** (which imports ``lazyotel`` in every variant): a typer app whose
  command makes a command span and three child spans through the OpenTelemetry API:
  telemetry off (no OpenTelemetry import at all) vs the
  recorder vs the SDK, the provider built when the command runs (as lazyotel activates on the
  first span). Spans stay in memory: delivery (the spool, the shipper) is not counted here.
  Whole-process instructions, and wall medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    PYTHON,
    Variant,
    callgrind_instructions,
    clean_env,
    interleave,
    median_seconds,
    ms,
    print_table,
)

ROUNDS = 15
SPANS = 2000

PROVIDERS = """
import sys
def build(kind, sink):
    if kind == "lite":
        from lazyotel import _lite
        return _lite.Provider(
            lambda span, parent: None, sink.append,
            resource=_lite.build_resource({"service.name": "bench"}, version="0"),
        )
    if kind == "recorder":
        from lazyotel import _recorder
        return _recorder.RecordingProvider(
            sink.append, resource=_recorder.build_resource({"service.name": "bench"}, version="0")
        )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    class Keep(SpanProcessor):
        def on_end(self, span):
            sink.append(span)

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False)
    provider.add_span_processor(Keep())
    return provider

def work(tracer, count):
    for index in range(count):
        with tracer.start_as_current_span("span", attributes={"a": index, "b": "text"}) as span:
            span.add_event("event", {"index": index})
"""

PER_SPAN_WALL = (
    PROVIDERS
    + """
import json, statistics, time
rounds, count = int(sys.argv[1]), int(sys.argv[2])
tracers = {kind: build(kind, []).get_tracer("bench") for kind in ("lite", "recorder", "sdk")}
for tracer in tracers.values():
    work(tracer, 200)  # warm caches
times = {kind: [] for kind in tracers}
for index in range(rounds):
    for kind in sorted(tracers, reverse=index % 2 == 1):
        started = time.perf_counter()
        work(tracers[kind], count)
        times[kind].append((time.perf_counter() - started) / count)
print(json.dumps({kind: statistics.median(values) for kind, values in times.items()}))
"""
)

PER_SPAN_COUNT = (
    PROVIDERS
    + """
kind, count = sys.argv[1], int(sys.argv[2])
import lazyotel
tracer = build(kind, []).get_tracer("bench")
work(tracer, 1)  # the first span's one-time costs are not per-span costs
work(tracer, count)
"""
)

IMPORT_CASES = {
    "lazyotel only": "import lazyotel",
    "+ import opentelemetry.trace": "import lazyotel; import opentelemetry.trace",
    "+ recorder provider": (
        "import lazyotel; from lazyotel import _recorder; "
        "_recorder.RecordingProvider(list().append, "
        "resource=_recorder.build_resource({'service.name': 'b'}, version='0')).get_tracer('b')"
    ),
    "+ SDK provider": (
        "import lazyotel; from opentelemetry.sdk.resources import Resource; "
        "from opentelemetry.sdk.trace import TracerProvider; "
        "TracerProvider(resource=Resource.create({'service.name': 'b'}), shutdown_on_exit=False)"
        ".get_tracer('b')"
    ),
}

TYPER_APP = """
import sys
import typer

import lazyotel  # every variant: a CLI using lazyotel imports it, traced or not

MODE = sys.argv.pop(1)
app = typer.Typer(add_completion=False)
KEPT = []


@app.command()
def fetch(name: str = "world", count: int = 3) -> None:
    if MODE == "off":
        for index in range(count):
            pass
        return
    from opentelemetry import trace
    if MODE == "api":
        pass  # the floor: the API's own import, its no-op spans
    elif MODE == "recorder":
        from lazyotel import _recorder
        provider = _recorder.RecordingProvider(
            KEPT.append, resource=_recorder.build_resource({"service.name": "app"}, version="0")
        )
    else:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

        class Keep(SpanProcessor):
            def on_end(self, span):
                KEPT.append(span)

        provider = TracerProvider(resource=Resource.create({"service.name": "app"}), shutdown_on_exit=False)
        provider.add_span_processor(Keep())
    if MODE != "api":
        trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("cli.fetch", attributes={"cli.command": "fetch"}):
        for index in range(count):
            with tracer.start_as_current_span(f"step{index}"):
                pass


if __name__ == "__main__":
    app()
"""


def per_span(rounds: int, spans: int, callgrind: bool) -> list[dict[str, object]]:
    env = clean_env()
    proc = subprocess.run(
        [PYTHON, "-c", PER_SPAN_WALL, str(rounds), str(spans)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    import json

    wall = json.loads(proc.stdout)
    names = {"recorder": "recorder (API)", "lite": "recorder (no OpenTelemetry)"}
    rows: list[dict[str, object]] = [
        {
            "benchmark": f"per span, wall: {names[kind]}",
            "a": f"{kind} {wall[kind] * 1e6:.2f} us",
            "b": f"SDK {wall['sdk'] * 1e6:.2f} us",
            "ratio": wall[kind] / wall["sdk"],
            "goal": "<= 0.5x",
            "detail": f"{rounds} interleaved rounds of {spans} spans, medians",
        }
        for kind in names
    ]
    if callgrind:
        count = {}
        for kind in ("lite", "recorder", "sdk"):
            many = callgrind_instructions([PYTHON, "-c", PER_SPAN_COUNT, kind, str(spans)], env)
            none = callgrind_instructions([PYTHON, "-c", PER_SPAN_COUNT, kind, "0"], env)
            count[kind] = (many - none) / spans
        rows += [
            {
                "benchmark": f"per span, instructions: {names[kind]}",
                "a": f"{kind} {count[kind]:,.0f}",
                "b": f"SDK {count['sdk']:,.0f}",
                "ratio": count[kind] / count["sdk"],
                "goal": "<= 0.5x",
                "detail": f"(process with {spans} spans - with 0) / {spans}",
            }
            for kind in names
        ]
    return rows


def imports(rounds: int, callgrind: bool) -> list[dict[str, object]]:
    env = clean_env()
    variants = {name: Variant([PYTHON, "-c", code], env) for name, code in IMPORT_CASES.items()}
    runs = interleave(variants, rounds)
    wall = {name: median_seconds(runs[name]) for name in variants}
    counts = (
        {name: callgrind_instructions(variant.argv, env) for name, variant in variants.items()}
        if callgrind
        else {}
    )
    base = "lazyotel only"
    rows: list[dict[str, object]] = []
    for name in ("+ import opentelemetry.trace", "+ recorder provider", "+ SDK provider"):
        detail = f"wall +{(wall[name] - wall[base]) * 1000:.1f} ms over `import lazyotel` ({ms(wall[base])})"
        row: dict[str, object] = {"benchmark": f"import {name}", "a": ms(wall[name]), "b": ms(wall[base])}
        if counts:
            extra = counts[name] - counts[base]
            row.update(
                {
                    "a": f"{counts[name]:,} instr",
                    "b": f"{counts[base]:,} instr",
                    "ratio": counts[name] / counts[base],
                    "detail": f"+{extra:,} instructions; {detail}",
                }
            )
        else:
            row.update({"ratio": wall[name] / wall[base], "detail": detail})
        rows.append(row)
    if counts:
        recorder = counts["+ recorder provider"] - counts[base]
        sdk = counts["+ SDK provider"] - counts[base]
        rows.append(
            {
                "benchmark": "import + provider: recorder vs SDK",
                "a": f"+{recorder:,} instr",
                "b": f"+{sdk:,} instr",
                "ratio": recorder / sdk,
                "detail": "instructions added over `import lazyotel`",
            }
        )
    return rows


def typer_app(rounds: int, callgrind: bool) -> list[dict[str, object]]:
    env = clean_env()
    with tempfile.TemporaryDirectory() as scratch:
        app = Path(scratch) / "app.py"
        app.write_text(textwrap.dedent(TYPER_APP))
        variants = {
            mode: Variant([PYTHON, str(app), mode, "--name", "x"], env)
            for mode in ("off", "api", "recorder", "sdk")
        }
        runs = interleave(variants, rounds)
        wall = {mode: median_seconds(runs[mode]) for mode in variants}
        counts = (
            {mode: callgrind_instructions(variant.argv, env) for mode, variant in variants.items()}
            if callgrind
            else {}
        )
    rows: list[dict[str, object]] = []
    for mode in ("api", "recorder", "sdk"):
        row: dict[str, object] = {
            "benchmark": f"typer app, command + 3 child spans: {mode} vs off",
            "a": ms(wall[mode]),
            "b": ms(wall["off"]),
            "ratio": wall[mode] / wall["off"],
            "goal": {"recorder": "<= 1.05x", "api": "floor: the API import"}.get(mode, ""),
            "detail": f"wall medians of {rounds} interleaved runs",
        }
        if counts:
            row.update(
                {
                    "a": f"{counts[mode]:,} instr",
                    "b": f"{counts['off']:,} instr",
                    "ratio": counts[mode] / counts["off"],
                    "detail": f"whole process; wall {ms(wall[mode])} vs {ms(wall['off'])} "
                    f"({wall[mode] / wall['off']:.2f}x)",
                }
            )
        rows.append(row)
    return rows


def main(rounds: int = ROUNDS, spans: int = SPANS, callgrind: bool | None = None) -> list[dict[str, object]]:
    """Run the three comparisons and return the rows of the table.

    Args:
        rounds: interleaved rounds for the wall-clock figures (medians).
        spans: spans per timing (per-span figures).
        callgrind: count instructions too (default: when ``valgrind`` is installed).
    """
    if callgrind is None:
        callgrind = shutil.which("valgrind") is not None
    return [*per_span(rounds, spans, callgrind), *imports(rounds, callgrind), *typer_app(rounds, callgrind)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--spans", type=int, default=SPANS)
    parser.add_argument("--no-callgrind", action="store_true", help="wall clock only")
    args = parser.parse_args()
    os.environ.pop("PYTHONHASHSEED", None)
    print_table(
        main(args.rounds, args.spans, callgrind=False if args.no_callgrind else None),
        ["benchmark", "a", "b", "ratio", "goal", "detail"],
    )
