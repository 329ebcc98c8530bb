"""The ktrade example, whole processes: lazyotel next to no telemetry and eager OpenTelemetry.

Run it as ``python benchmarks/bench_example.py [--rounds N]`` (prints a table), or call ``main()``
from ``run_all.py`` (returns the rows). Every figure is a fresh interpreter timed from spawn to
exit; the variants of one comparison run interleaved (``_harness.interleave``) and the figures
are medians. The variants are the same command modules (``examples/ktrade``):

- ``no telemetry``: ``python -m examples.ktrade.plain``, lazyotel replaced by a do-nothing stand-in;
- ``lazyotel``: ``python -m examples.ktrade``, one ``bootstrap`` call and one ``trace_app`` call;
- ``eager``: ``python -m examples.ktrade.eager``: SDK, batch processor, OTLP/gRPC exporter and
  ``HTTPXClientInstrumentor`` set up at start, and a hand-written decorator.

Comparisons:

1. ``--help``: lazyotel and eager against no telemetry (goal: lazyotel <= 1.02x), with twice
   the rounds (the runs are short); and lazyotel's own part of it (import, ``bootstrap``, 14
   decorators), timed inside the interpreter: two whole runs cannot resolve 2 % on a busy machine.
2. A traced command (``data load``: one API call) with telemetry on, exporting over OTLP/gRPC to
   a live receiver: lazyotel against eager (goal: <= 1.00x). Every run must deliver its span.
3. Collector down: ``data quote`` (3 attempts against a flaky API) with the collector refusing
   connections, and with one that accepts and never answers: telemetry on against off (goal:
   at most ``flush_timeout``, 1 s, more), and eager OpenTelemetry under a refusing collector.
4. Peak memory (max RSS from ``/usr/bin/time -v``) of ``--help`` in the three variants.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # after the path set-up, so the script runs from anywhere
    PYTHON,
    ROOT,
    Run,
    Variant,
    clean_env,
    interleave,
    median,
    median_seconds,
    peak_rss_mib,
    print_table,
)

sys.path.insert(0, str(ROOT))

from examples.api_server import ApiServer
from lazyotel._receiver import OTLPReceiver, refused_endpoint

ROUNDS = 9
SLOW_ROUNDS = 3  # for runs that wait on a dead collector for seconds, and for memory
MODULES = {
    "no telemetry": "examples.ktrade.plain",
    "lazyotel": "examples.ktrade",
    "eager": "examples.ktrade.eager",
}
COLUMNS = ["benchmark", "a", "b", "ratio", "detail", "goal"]

Row = dict[str, object]

# lazyotel's own part of a start, timed inside a fresh interpreter.
OWN_PART = """
import time
started = time.perf_counter()
import lazyotel
lazyotel.bootstrap(service_name="ktrade", instrument=["httpx"])
def command(ctx, symbol: str, rows: int = 200) -> dict:
    return {}
for index in range(14):
    lazyotel.trace_command(f"command_{index}")(command)
print(time.perf_counter() - started)
"""


def _env(**extra: str) -> dict[str, str]:
    """``clean_env``, without the example's own ``KTRADE_*`` settings from the caller.

    Inline delivery, which these figures are about (benchmarks/bench_handoff.py measures hand-off).
    """
    extra = {"LAZYOTEL_DELIVERY": "inline", **extra}
    return {k: v for k, v in clean_env(**extra).items() if not k.startswith("KTRADE_") or k in extra}


def _variant(
    name: str, *args: str, env: dict[str, str] | None = None, check: Callable[[Run], None] | None = None
) -> Variant:
    return Variant([PYTHON, "-m", MODULES[name], *args], env if env is not None else _env(), check)


def _medians(variants: dict[str, Variant], rounds: int) -> dict[str, float]:
    return {name: median_seconds(runs) * 1e3 for name, runs in interleave(variants, rounds).items()}


def _row(benchmark: str, a: str, b: str, ratio: float, detail: str, goal: str = "") -> Row:
    return {"benchmark": benchmark, "a": a, "b": b, "ratio": round(ratio, 2), "detail": detail, "goal": goal}


def bench_help(rounds: int) -> list[Row]:
    """``--help`` of the three variants, and lazyotel's own part of it."""
    env = _env(OTEL_EXPORTER_OTLP_ENDPOINT=refused_endpoint())
    t = _medians({name: _variant(name, "--help", env=env) for name in MODULES}, 2 * rounds)
    base = t["no telemetry"]
    own_runs = interleave({"own": Variant([PYTHON, "-c", OWN_PART], _env())}, 2 * rounds)["own"]
    own = median([float(run.stdout) * 1e3 for run in own_runs])
    return [
        _row("example --help", "lazyotel", "no telemetry", t["lazyotel"] / base,
             f"{t['lazyotel']:.0f} ms vs {base:.0f} ms", "<= 1.02x"),
        _row("example --help", "eager OpenTelemetry", "no telemetry", t["eager"] / base,
             f"{t['eager']:.0f} ms vs {base:.0f} ms", "(eager: about 2x)"),
        _row("example --help, lazyotel's own part", "no telemetry + lazyotel", "no telemetry", 1 + own / base,
             f"import + bootstrap + 14 decorators: {own:.2f} ms of {base:.0f} ms", "<= 1.02x"),
    ]  # fmt: skip


def _delivers(receiver: OTLPReceiver, name: str) -> Callable[[Run], None]:
    """A run check: the command succeeded and one more ``name`` span reached the receiver."""
    seen = [0]

    def check(run: Run) -> None:
        count = receiver.names().count(name)
        if run.returncode != 0 or count <= seen[0]:
            msg = (
                f"exit {run.returncode}, no new {name} span; received {receiver.names()}\n{run.stderr[-999:]}"
            )
            raise RuntimeError(msg)
        seen[0] = count

    return check


def bench_traced_command(rounds: int) -> list[Row]:
    """``data load`` with telemetry on, both exporting over gRPC to the same live receiver."""
    with OTLPReceiver(protocol="grpc") as receiver, ApiServer() as api:
        grpc = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        args = ("--url", api.url, "--otlp-port", str(receiver.port), "data", "load", "EURUSD")
        delivered = _delivers(receiver, "cli.data.load")  # trace_app: the command path
        delivered_eager = _delivers(receiver, "cli.data_load")  # the hand-written decorator
        t = _medians(
            {
                "no telemetry": _variant("no telemetry", *args),
                "lazyotel": _variant(
                    "lazyotel", *args, env=_env(LAZYOTEL_MODE="on", **grpc), check=delivered
                ),
                "eager": _variant("eager", *args, env=_env(**grpc), check=delivered_eager),
            },
            rounds,
        )
    detail = f"{t['lazyotel']:.0f} ms vs {t['eager']:.0f} ms; untraced {t['no telemetry']:.0f} ms"
    ratio = t["lazyotel"] / t["eager"]
    return [_row("traced command, telemetry on", "lazyotel", "eager set-up", ratio, detail, "<= 1.00x")]


def bench_collector_down(rounds: int) -> list[Row]:
    """``data quote`` (3 attempts): telemetry off, and on with the collector up, refusing, silent."""
    with OTLPReceiver() as live, OTLPReceiver(behaviour="silent") as silent, ApiServer() as api:
        dead = refused_endpoint().rsplit(":", 1)[1]

        def quote(name: str, port: object, **env: str) -> Variant:
            return _variant(
                name, "--url", api.url, "--otlp-port", str(port), "data", "quote", "EURUSD", env=_env(**env)
            )

        t = _medians(
            {
                "off": quote("lazyotel", dead, LAZYOTEL_MODE="off"),
                "up": quote("lazyotel", live.port, LAZYOTEL_MODE="on"),
                "refused": quote("lazyotel", dead, LAZYOTEL_MODE="on"),
                "silent": quote("lazyotel", silent.port, LAZYOTEL_MODE="on"),
            },
            rounds,
        )
        eager = quote("eager", dead, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{dead}")
        t.update(_medians({"eager": eager}, min(rounds, SLOW_ROUNDS)))
    off, up = t["off"], t["up"]
    rows = []
    for case, who in (("refused", "lazyotel"), ("silent", "lazyotel"), ("eager", "eager OpenTelemetry")):
        ms = t[case]
        detail = f"{ms:.0f} ms vs {off:.0f} ms: {ms - off:+.0f} ms; over collector up: {ms - up:+.0f} ms"
        title = f"collector {'refused' if case == 'eager' else case}, retrying command"
        goal = "(the 'before')" if case == "eager" else "+ <= flush_timeout (1 s)"
        rows.append(_row(title, f"{who} on", "telemetry off", ms / off, detail, goal))
    return rows


def bench_memory(rounds: int) -> list[Row]:
    """Peak RSS of ``--help``, the median of a few runs per variant."""
    env = _env(OTEL_EXPORTER_OTLP_ENDPOINT=refused_endpoint())
    mib: dict[str, float] = {}
    for name in MODULES:
        found = [peak_rss_mib(_variant(name, "--help", env=env)) for _ in range(min(rounds, SLOW_ROUNDS))]
        if None in found:
            return [
                _row(
                    "example --help, peak memory",
                    "lazyotel",
                    "no telemetry",
                    float("nan"),
                    "no /usr/bin/time",
                )
            ]
        mib[name] = median([value for value in found if value is not None])
    base = mib["no telemetry"]
    return [
        _row("example --help, peak memory", variant, "no telemetry", mib[variant] / base,
             f"{mib[variant]:.1f} MiB vs {base:.1f} MiB (max RSS)", goal)
        for variant, goal in (("lazyotel", "<= 1.02x"), ("eager", ""))
    ]  # fmt: skip


def main(rounds: int = ROUNDS) -> list[Row]:
    """Run every comparison and return the rows of the table.

    Args:
        rounds: Interleaved rounds per comparison (figures are their medians); ``--help`` runs
            twice as many; the runs that wait on a dead collector, and the memory runs, at most 3.

    Returns:
        One dict per row: ``benchmark``, ``a``, ``b``, ``ratio`` (a / b), ``detail``, ``goal``.
    """
    return [
        *bench_help(rounds),
        *bench_traced_command(rounds),
        *bench_collector_down(rounds),
        *bench_memory(rounds),
    ]


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    print_table(main(count), COLUMNS)
