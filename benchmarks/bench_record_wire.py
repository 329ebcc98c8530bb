"""A traced command in hand-off mode, recorded by lazyotel's recorder, against telemetry off.

Run it as ``python benchmarks/bench_record_wire.py [--rounds N] [--no-callgrind]`` (prints a
table). Whole processes, from spawn to exit, the variants of one comparison interleaved, medians;
instructions counted with ``valgrind --tool=callgrind`` where it is installed (whole process,
``PYTHONHASHSEED=0``; the detached shipper is another process and is not counted).

Variants: telemetry ``off``; ``handoff`` as it runs by default (lazyotel's recorder records, the
command imports no SDK); ``handoff, SDK`` (``OTEL_PYTHON_ID_GENERATOR=random`` sends the run to the
SDK: what hand-off cost before the recorder). Apps: the ktrade example with one HTTP request
(``data load``) and without (``models backtest``), and a minimal typer app whose command makes
three child spans with ``lazyotel.get_tracer``. Goals (issue 13): ktrade <= 1.03x off, the
typer app <= 1.05x off (stretch: 1.01x, no OpenTelemetry module imported); peak memory <= 1.05x
off (``/usr/bin/time -v``, medians).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # after the path set-up, so the script runs from anywhere
    PYTHON,
    ROOT,
    Variant,
    callgrind_instructions,
    clean_env,
    interleave,
    median,
    median_seconds,
    ms,
    peak_rss_mib,
    print_table,
)
from bench_handoff import SPOOL, _env, _ok_or_usage_error, _quiet_shippers

sys.path.insert(0, str(ROOT))

from examples.api_server import ApiServer
from lazyotel import _spool
from lazyotel._receiver import OTLPReceiver

ROUNDS = 9
MODES = {
    "off": {"LAZYOTEL_MODE": "off"},
    "handoff": {"LAZYOTEL_MODE": "on", "LAZYOTEL_DELIVERY": "handoff"},
    "handoff, SDK": {
        "LAZYOTEL_MODE": "on",
        "LAZYOTEL_DELIVERY": "handoff",
        "OTEL_PYTHON_ID_GENERATOR": "random",
    },
}
KTRADE = {
    "ktrade data load (1 HTTP request)": ("data", "load", "EURUSD"),
    "ktrade models backtest (no request)": ("models", "backtest", "--fast", "30", "--slow", "10"),
}

TYPER_APP = """
import typer

import lazyotel

lazyotel.bootstrap("bench-typer")
tracer = lazyotel.get_tracer("bench.typer")
app = typer.Typer(add_completion=False)


@app.command()
@lazyotel.trace_command
def fetch(name: str = "world", count: int = 3) -> None:
    for index in range(count):
        with tracer.start_as_current_span(f"step{index}") as span:
            span.set_attribute("index", index)


if __name__ == "__main__":
    app()
"""


def _compare(
    title: str, variants: dict[str, Variant], rounds: int, callgrind: bool, goal: str = ""
) -> list[dict[str, object]]:
    runs = interleave(variants, rounds)
    _quiet_shippers()
    if _spool.files(str(SPOOL)):
        msg = f"spans left in the spool after {title}: not delivered"
        raise RuntimeError(msg)
    wall = {name: median_seconds(runs[name]) for name in variants}
    peaks: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):  # interleaved, as the timed runs
        for name, variant in variants.items():
            found = peak_rss_mib(variant)
            if found is not None:
                peaks[name].append(found)
    _quiet_shippers()
    counts: dict[str, int] = {}
    if callgrind:
        for name, variant in variants.items():
            # ktrade's ``models backtest`` here is a usage error: a fine exit.
            counts[name] = callgrind_instructions(variant.argv, variant.env, ok_exits=(0, 1, 2))
            _quiet_shippers()
    rows: list[dict[str, object]] = []
    for name in [n for n in variants if n != "off"]:
        row: dict[str, object] = {
            "benchmark": f"{title}: {name} vs off",
            "a": ms(wall[name]),
            "b": ms(wall["off"]),
            "ratio": round(wall[name] / wall["off"], 3),
            "detail": f"wall medians of {rounds} interleaved runs",
            "goal": goal if name == "handoff" else "",
        }
        if counts:
            row.update(
                {
                    "a": f"{counts[name]:,} instr",
                    "b": f"{counts['off']:,} instr",
                    "ratio": round(counts[name] / counts["off"], 3),
                    "detail": f"wall {ms(wall[name])} vs {ms(wall['off'])} ({wall[name] / wall['off']:.2f}x)",
                }
            )
        rows.append(row)
        if peaks[name] and peaks["off"]:
            ours, off = median(peaks[name]), median(peaks["off"])
            rows.append(
                {
                    "benchmark": f"{title}: {name} vs off, peak memory",
                    "a": f"{ours:.1f} MiB",
                    "b": f"{off:.1f} MiB",
                    "ratio": round(ours / off, 3),
                    "detail": f"median peak RSS of {rounds} runs each (/usr/bin/time -v)",
                    "goal": "<= 1.05x" if name == "handoff" else "",
                }
            )
    return rows


def main(rounds: int = ROUNDS, callgrind: bool | None = None) -> list[dict[str, object]]:
    if callgrind is None:
        callgrind = shutil.which("valgrind") is not None
    rows: list[dict[str, object]] = []
    with OTLPReceiver() as receiver, ApiServer() as api:
        for title, command in KTRADE.items():
            args = ("--url", api.url, "--otlp-port", str(receiver.port), *command)
            variants = {
                mode: Variant([PYTHON, "-m", "examples.ktrade", *args], _env(**extra), _ok_or_usage_error)
                for mode, extra in MODES.items()
            }
            rows += _compare(title, variants, rounds, callgrind, goal="<= 1.03x")
        with tempfile.TemporaryDirectory() as scratch:
            app = Path(scratch) / "app.py"
            app.write_text(textwrap.dedent(TYPER_APP))
            typer_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
            variants = {
                mode: Variant([PYTHON, str(app), "--name", "x"], _env(**typer_env, **extra))
                for mode, extra in MODES.items()
            }
            rows += _compare(
                "typer app, command + 3 child spans",
                variants,
                rounds,
                callgrind,
                goal="<= 1.05x (stretch 1.01x)",
            )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--no-callgrind", action="store_true", help="wall clock only")
    args = parser.parse_args()
    print_table(main(args.rounds, callgrind=False if args.no_callgrind else None))
    print(f"(interpreter {PYTHON}; clean_env: {sorted(k for k in clean_env() if k.startswith('LAZY'))})")
