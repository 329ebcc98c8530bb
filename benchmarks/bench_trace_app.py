"""Every command traced by one call: ``lazyotel.trace_app`` next to ``opentelemetry-instrumentation-click``.

Run it as ``python benchmarks/bench_trace_app.py [--rounds N]`` (prints the tables), or call
``main()`` from ``run_all.py`` (returns the rows). The CLI is ``benchmarks/_trace_app_cli.py``,
the same commands as a click app and as a typer app, in three variants: no telemetry,
``lazyotel`` (``bootstrap`` + ``trace_app``), and ``otel-click`` (an SDK provider, a batch
processor, the OTLP/HTTP exporter and ``ClickInstrumentor().instrument()`` at start-up, as its
documentation shows). Needs ``opentelemetry-instrumentation-click`` (the ``dev`` extra).

1. ``--help`` (root and a group), fresh interpreters, the variants interleaved, medians: each
   against no telemetry; and whether lazyotel's ``--help`` output is byte-identical.
2. What the spans carry: three commands per variant and framework (a success with a secret
   option, an exit code 3, an ``Exit(0)``) exported to the real OTLP receiver; one line per span
   (name, status, attributes).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from _harness import PYTHON, Variant, clean_env, interleave, median_seconds, print_table

from lazyotel._receiver import OTLPReceiver

CLI = str(Path(__file__).resolve().parent / "_trace_app_cli.py")
ROUNDS = 10
VARIANTS = ("plain", "lazyotel", "otel-click")
FRAMEWORKS = ("click", "typer")
COMMANDS = (["data", "show", "EURUSD", "--token", "s3cret"], ["data", "fail"], ["ops", "detach"])
Row = dict[str, object]


def _available() -> bool:
    return importlib.util.find_spec("opentelemetry.instrumentation.click") is not None


def _argv(variant: str, framework: str, *args: str) -> list[str]:
    return [PYTHON, CLI, variant, framework, *args]


def bench_help(rounds: int, variants: tuple[str, ...]) -> list[Row]:
    rows: list[Row] = []
    env = clean_env(LAZYOTEL_MODE="on", COLUMNS="100")
    for framework in FRAMEWORKS:
        for screen in (["--help"], ["data", "--help"]):
            runs = interleave(
                {name: Variant(_argv(name, framework, *screen), env) for name in variants}, rounds
            )
            base = median_seconds(runs["plain"])
            identical = {run.stdout for run in runs["lazyotel"]} == {run.stdout for run in runs["plain"]}
            for name in variants[1:]:
                t = median_seconds(runs[name])
                detail = f"{t * 1e3:.0f} ms vs {base * 1e3:.0f} ms"
                if name == "lazyotel":
                    detail += "; output byte-identical" if identical else "; OUTPUT DIFFERS"
                rows.append({
                    "benchmark": f"{framework} app {' '.join(screen)}, every command traced",
                    "a": name, "b": "no telemetry", "ratio": round(t / base, 2), "detail": detail,
                    "goal": "<= 1.02x" if name == "lazyotel" else "",
                })  # fmt: skip
    return rows


# lazyotel's own part of a start: import, bootstrap and trace_app on the built app, in-process.
OWN_PART = """
import runpy, sys, time
sys.argv = ["cli", "plain", sys.argv[1]]
app = runpy.run_path({cli!r}, run_name="bench")["app"]  # built, not run
started = time.perf_counter()
import lazyotel
lazyotel.bootstrap(service_name="cli")
lazyotel.trace_app(app)
print(time.perf_counter() - started)
"""


def bench_own_part(rounds: int) -> list[Row]:
    """Whole runs cannot resolve a millisecond on a busy machine: time lazyotel's part inside."""
    rows: list[Row] = []
    code = OWN_PART.format(cli=CLI)
    for framework in FRAMEWORKS:
        runs = interleave({"own": Variant([PYTHON, "-c", code, framework], clean_env())}, rounds)["own"]
        own = sorted(float(run.stdout) for run in runs)[len(runs) // 2] * 1e3
        plain = interleave({"plain": Variant(_argv("plain", framework, "--help"), clean_env())}, rounds)
        base = median_seconds(plain["plain"]) * 1e3
        rows.append({
            "benchmark": f"{framework} app --help, lazyotel's own part", "a": "no telemetry + lazyotel",
            "b": "no telemetry", "ratio": round(1 + own / base, 3),
            "detail": f"import + bootstrap + trace_app: {own:.2f} ms of {base:.0f} ms", "goal": "<= 1.02x",
        })  # fmt: skip
    return rows


def spans_carried(variants: tuple[str, ...]) -> list[Row]:
    """One row per command and variant: the spans the real receiver got."""
    import subprocess

    rows: list[Row] = []
    with OTLPReceiver() as receiver:
        env = clean_env(LAZYOTEL_MODE="on", LAZYOTEL_FLUSH_TIMEOUT="10",
                        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)  # fmt: skip
        for framework in FRAMEWORKS:
            for name in variants[1:]:
                for command in COMMANDS:
                    receiver.clear()
                    argv = _argv(name, framework, *command)
                    proc = subprocess.run(
                        argv, env=env, capture_output=True, text=True, timeout=60, check=False
                    )
                    spans = _received(receiver)
                    described = [
                        f"{s.name} [{s.status_code}] "
                        + ", ".join(f"{k}={v!r}" for k, v in sorted(s.attributes.items()))
                        for s in spans
                    ] or ["(no span)"]
                    rows.append({
                        "framework": framework, "variant": name, "command": " ".join(command),
                        "exit": proc.returncode, "spans": " | ".join(described),
                    })  # fmt: skip
    return rows


def _received(receiver: OTLPReceiver, timeout: float = 2.0) -> list:  # type: ignore[type-arg]
    """The spans received so far, after waiting up to ``timeout`` for a first one (maybe none)."""
    import time

    deadline = time.monotonic() + timeout
    while not receiver.spans and time.monotonic() < deadline:
        time.sleep(0.05)
    return receiver.spans


def main(rounds: int = ROUNDS) -> list[Row]:
    """The ``--help`` rows (for ``run_all.py``); ``--spans`` prints what the spans carry too."""
    variants = VARIANTS if _available() else VARIANTS[:2]
    return [*bench_help(rounds, variants), *bench_own_part(rounds)]


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    if not _available():
        print("opentelemetry-instrumentation-click is not installed: lazyotel only (pip install -e '.[dev]')")
    print_table(main(count), ["benchmark", "a", "b", "ratio", "goal", "detail"])
    print()
    variants = VARIANTS if _available() else VARIANTS[:2]
    print_table(spans_carried(variants), ["framework", "variant", "command", "exit", "spans"])
