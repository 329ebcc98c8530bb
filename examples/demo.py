"""The README's demo: a traced CLI, its traces drawn in the terminal, and what telemetry costs.

    python3 tasks.py demo            (sets up .venv, then runs this file in it)

1. Starts a real OTLP receiver and the example's API server on 127.0.0.1: nothing to install.
2. Runs ktrade commands as processes with ``LAZYOTEL_MODE=on``. ``--url`` points them at the API;
   telemetry follows to the collector on the API's host (here, the receiver's port).
3. Draws each command's trace: CLI span -> HTTP client span -> the API's server span.
4. Start-up: ``ktrade --help`` with lazyotel, with no telemetry, with eager OpenTelemetry set-up
   (medians of interleaved runs); a dead collector; and the doctor's check of ``--help``'s imports.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.api_server import ApiServer  # noqa: E402
from lazyotel._receiver import OTLPReceiver, ReceivedSpan, refused_endpoint  # noqa: E402
from lazyotel._tree import draw_trace  # noqa: E402

PYTHON = sys.executable
HELP_RUNS = 7
BAR = 24  # width of the timeline column


def child_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAZYOTEL_", "PYTEST_", "KTRADE_"))
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode: realistic start-up figures
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def ktrade_argv(*args: str, module: str = "examples.ktrade") -> list[str]:
    return [PYTHON, "-m", module, *args]


# -- drawing a trace: lazyotel._tree.draw_trace (shared with `python -m lazyotel receive`) ------


def wait_until_quiet(receiver: OTLPReceiver, timeout: float = 3.0) -> list[ReceivedSpan]:
    """The spans received once nothing new has arrived for 0.3 s (server spans are batched)."""
    deadline, count = time.monotonic() + timeout, -1
    while time.monotonic() < deadline and count != len(receiver.spans):
        count = len(receiver.spans)
        time.sleep(0.3)
    return receiver.spans


# -- the traced commands ---------------------------------------------------------------------------


def run_command(receiver: OTLPReceiver, api: ApiServer, args: list[str], interrupt_after: int = 0) -> str:
    """Run one ktrade command with telemetry on, print its output and its trace; return stdout."""
    argv = ktrade_argv("--url", api.url, *args)
    env = child_env(LAZYOTEL_MODE="on", KTRADE_OTLP_PORT=str(receiver.port))
    receiver.clear()
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    lines = [child.stdout.readline() for _ in range(interrupt_after)]
    if interrupt_after:
        child.send_signal(signal.SIGINT)  # what Ctrl-C does
    out, err = child.communicate(timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    out = "".join(lines) + out
    shown = " ".join(args) + (f"   (Ctrl-C after {interrupt_after} lines)" if interrupt_after else "")
    print(f"\n$ ktrade --url {api.url} {shown}")
    for line in (out + err).strip().splitlines()[:6]:
        print(f"  | {line}")
    print(f"  exit {child.returncode}, {elapsed:.0f} ms wall (process start to exit)")
    spans = wait_until_quiet(receiver)
    for trace_id in dict.fromkeys(span.trace_id for span in spans):
        print(f"  trace {trace_id}")
        print("\n".join(draw_trace([s for s in spans if s.trace_id == trace_id], BAR)))
    return out


def traces(receiver: OTLPReceiver, api: ApiServer) -> None:
    print("== Traces: ktrade commands, telemetry on (LAZYOTEL_MODE=on), exported over OTLP/HTTP ==")
    print(
        "   timeline                 duration   span                                         kind     service"
    )
    run_command(receiver, api, ["data", "load", "EURUSD", "--timeframe", "1d"])
    run_command(receiver, api, ["data", "quote", "EURUSD"])
    trained = run_command(receiver, api, ["models", "train", "momentum", "--epochs", "3"])
    train_op = re.search(r"op_\w+", trained)
    if train_op:
        run_command(receiver, api, ["ops", "follow", train_op.group(), "--interval", "0.05"])
    run_command(receiver, api, ["data", "show", "MSFT", "--rows", "500"])
    long_op = api.backend.start("train", 10_000, {"model": "breakout"})["operation_id"]
    run_command(receiver, api, ["ops", "attach", long_op, "--interval", "0.05"], interrupt_after=2)
    print(
        "\n  A CLI span also covers what its command imports on first use (httpx, and its"
        "\n  instrumentation, armed by lazyotel as httpx loads): that is why the HTTP calls come late."
    )


# -- start-up figures ------------------------------------------------------------------------------


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run (CPU: the child's user + system time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000


def interleaved(
    variants: dict[str, tuple[list[str], dict[str, str]]], runs: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms of each variant, run in turn (A B C A B C ...), after a warm-up each."""
    for argv, env in variants.values():
        _wall(argv, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, (argv, env) in variants.items():
            times[name].append(_wall(argv, env))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in times.items()
    }


def startup(receiver: OTLPReceiver, api: ApiServer) -> None:
    env = child_env(OTEL_EXPORTER_OTLP_ENDPOINT=refused_endpoint())
    print(f"\n== Start-up: ktrade --help, median of {HELP_RUNS} interleaved runs ==")
    help_times = interleaved(
        {
            "no telemetry": (ktrade_argv("--help", module="examples.ktrade.plain"), env),
            "lazyotel": (ktrade_argv("--help"), env),
            "eager OpenTelemetry": (ktrade_argv("--help", module="examples.ktrade.eager"), env),
        },
        HELP_RUNS,
    )
    base, base_cpu = help_times["no telemetry"]
    for name, (ms, cpu) in help_times.items():
        print(f"  {name:<22} {ms:7.0f} ms  {ms / base:5.2f}x    CPU {cpu:5.0f} ms  {cpu / base_cpu:5.2f}x")

    print("\n== Collector down: data quote (3 attempts), telemetry off vs on, median of 3 ==")
    quote = ["--url", api.url, "data", "quote", "USDJPY"]
    dead = refused_endpoint().rsplit(":", 1)[1]
    down = interleaved(
        {
            "telemetry off": (ktrade_argv(*quote), child_env(LAZYOTEL_MODE="off")),
            "on, collector up": (
                ktrade_argv("--otlp-port", str(receiver.port), *quote),
                child_env(LAZYOTEL_MODE="on"),
            ),
            "on, collector refusing": (
                ktrade_argv("--otlp-port", dead, *quote),
                child_env(LAZYOTEL_MODE="on"),
            ),
        },
        3,
    )
    for name, (ms, _cpu) in down.items():
        print(f"  {name:<24} {ms:7.0f} ms")
    print("  (a refused collector costs nothing more: one TCP probe, the spans are dropped, no exit wait)")

    print("\n== The doctor: what does ktrade --help import? ==")
    doctor = [PYTHON, "-m", "lazyotel", "doctor", "--forbid", "httpx", "--top", "3", "--"]
    result = subprocess.run(
        [*doctor, *ktrade_argv("--help")], env=env, capture_output=True, text=True, check=False
    )
    print("$ python -m lazyotel doctor --forbid httpx --top 3 -- python -m examples.ktrade --help")
    print("\n".join(f"  {line}" for line in result.stdout.strip().splitlines()))
    eager = subprocess.run(
        [*doctor[:-1], "--json", "--", *ktrade_argv("--help", module="examples.ktrade.eager")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if eager.stdout.strip():
        report: dict[str, Any] = json.loads(eager.stdout)
        worst = sorted(report["forbidden"], key=lambda m: -m["cumulative_ms"])[:3]
        found = ", ".join(f"{m['module']} ({m['cumulative_ms']:.0f} ms)" for m in worst)
        print(f"  the eager variant, for contrast (exit {eager.returncode}): {found}")


def main() -> int:
    started = time.perf_counter()
    with OTLPReceiver() as receiver, ApiServer(otlp_endpoint=receiver.endpoint) as api:
        print(f"OTLP receiver {receiver.endpoint}   ktrade API {api.url}   (loopback, in this process)\n")
        traces(receiver, api)
        startup(receiver, api)
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
