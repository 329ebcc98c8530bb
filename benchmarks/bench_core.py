"""The core's promises, measured: start-up, exit with a dead or hung collector, activation.

Run it as ``python benchmarks/bench_core.py [--rounds N] [--sdk-rounds N]`` (prints a table), or
call ``main()`` from ``benchmarks/run_all.py`` (returns the rows). Every run is a fresh
interpreter; variants run interleaved, round after round, and the figures are medians.

- **start-up**: ``python -c "import lazyotel; lazyotel.bootstrap('x')"`` against
  ``python -c pass``, timed from spawn to exit (goal: +3 ms). ``import opentelemetry.trace``
  alone is shown for scale.
- **exit**: one traced command against a collector that refuses connections, or one that
  accepts and never answers (the test receiver, ``behaviour="silent"``), with
  ``flush_timeout=1.0``. The figure is the exit delay (from the command's last statement to
  the end of the process) added over the same program with ``LAZYOTEL_MODE=off``. Goals:
  refusing <= +0.1 s, silent <= flush_timeout + 0.05 s. Two commands: one that ends right after
  its span (the exporter may still be loading) and one that works 0.5 s. The SDK's defaults set
  up by hand (``BatchSpanProcessor`` + OTLP/HTTP exporter) are shown for comparison, with
  fewer rounds: each of their runs costs 7-10 s.
- **activation**: the latency of the first traced call (lazyotel imports the SDK and builds
  the provider there) against importing and constructing the SDK and the OTLP exporter by
  hand, as CLIs do today (goal: <= 1.1x). lazyotel builds the exporter in a background thread,
  so its import is off the command's path.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    ms,
    peak_rss_mib,
    print_table,
    stamped_exit,
)

sys.path.insert(0, str(ROOT))

from lazyotel._receiver import OTLPReceiver, refused_endpoint

ROUNDS = 15
SDK_ROUNDS = 3
FLUSH_TIMEOUT = 1.0

# -- start-up -----------------------------------------------------------------------------------


def startup(rounds: int) -> list[dict[str, object]]:
    variants = {
        "pass": Variant([PYTHON, "-c", "pass"]),
        "lazyotel": Variant([PYTHON, "-c", "import lazyotel; lazyotel.bootstrap('x')"]),
        "otel": Variant([PYTHON, "-c", "import opentelemetry.trace"]),
    }
    runs = interleave(variants, rounds * 2)
    base, lazy, otel = (median_seconds(runs[name]) for name in ("pass", "lazyotel", "otel"))
    rss = {name: peak_rss_mib(variant) for name, variant in variants.items()}
    rss_text = (
        f"; peak RSS {rss['lazyotel']:.1f} MiB vs {rss['pass']:.1f} MiB"
        if rss["lazyotel"] is not None and rss["pass"] is not None
        else ""
    )
    return [
        {
            "benchmark": "start-up: import lazyotel + bootstrap('x')",
            "a": ms(lazy),
            "b": f"python -c pass {ms(base)}",
            "ratio": lazy / base,
            "detail": f"+{(lazy - base) * 1000:.1f} ms{rss_text}; "
            f"import opentelemetry.trace alone: +{(otel - base) * 1000:.1f} ms",
            "goal": "+3 ms",
        }
    ]


# -- exit ---------------------------------------------------------------------------------------

EXIT_PROGRAM = r"""
import sys, time
how, endpoint, work, flush_timeout = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
if how == "imports":  # the floor: what tearing the SDK and the exporter down costs at exit
    import opentelemetry.exporter.otlp.proto.http.trace_exporter
    import opentelemetry.sdk.trace.export
    from contextlib import nullcontext as span
    tracer = type("T", (), {"start_as_current_span": staticmethod(span)})
elif how == "sdk":
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("bench")
else:
    import lazyotel
    lazyotel.bootstrap("bench", endpoint=endpoint, flush_timeout=flush_timeout)
    tracer = lazyotel.get_tracer("bench")
with tracer.start_as_current_span("command"):
    time.sleep(work)
sys.stderr.write(f"EXIT-STAMP {time.time()!r}\n")
"""


def _exit_variant(how: str, endpoint: str, work: float) -> Variant:
    mode = {"lazyotel": "on", "off": "off", "sdk": "off", "imports": "off"}[how]
    return Variant(
        [
            PYTHON,
            "-c",
            EXIT_PROGRAM,
            "lazyotel" if how in ("lazyotel", "off") else how,
            endpoint,
            str(work),
            str(FLUSH_TIMEOUT),
        ],
        clean_env(LAZYOTEL_MODE=mode),
        timeout=60,
    )


def _exit_delays(runs: list[Run]) -> float:
    return median([stamped_exit(run) for run in runs])


def exit_delay(rounds: int, sdk_rounds: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    goals = {"refusing": 0.1, "silent": FLUSH_TIMEOUT + 0.05}
    floor = interleave(
        {how: _exit_variant(how, "http://127.0.0.1:9", 0.0) for how in ("off", "imports")}, rounds
    )
    off, imports = _exit_delays(floor["off"]), _exit_delays(floor["imports"])
    rows.append(
        {
            "benchmark": "exit floor: SDK + OTLP exporter imported, nothing traced",
            "a": f"imported {imports:.3f} s",
            "b": f"telemetry off {off:.3f} s",
            "figure": f"+{imports - off:.3f}",
            "unit": "s",
            "detail": "interpreter teardown of the modules alone; part of every figure below",
            "goal": "",
        }
    )
    with OTLPReceiver(behaviour="silent") as silent:
        endpoints = {"refusing": refused_endpoint(), "silent": silent.endpoint}
        for collector, endpoint in endpoints.items():
            for work in (0.0, 0.5):
                variants = {how: _exit_variant(how, endpoint, work) for how in ("off", "lazyotel")}
                runs = interleave(variants, rounds)
                off, lazy = _exit_delays(runs["off"]), _exit_delays(runs["lazyotel"])
                whole = median_seconds(runs["lazyotel"]) - median_seconds(runs["off"])
                added = lazy - off
                command = "one span, then exit" if not work else "a 0.5 s command"
                rows.append(
                    {
                        "benchmark": f"exit, collector {collector}: {command}",
                        "a": f"lazyotel {lazy:.3f} s",
                        "b": f"telemetry off {off:.3f} s",
                        "figure": f"+{added:.3f}",
                        "unit": "s",
                        "detail": f"whole run +{whole:.3f} s (activation included); "
                        f"flush_timeout={FLUSH_TIMEOUT}",
                        "goal": f"<= +{goals[collector]:.2f} s",
                    }
                )
            sdk_runs = interleave({"sdk": _exit_variant("sdk", endpoint, 0.0)}, sdk_rounds, warmup=0)
            off_runs = interleave({"off": _exit_variant("off", endpoint, 0.0)}, sdk_rounds)
            sdk, off = _exit_delays(sdk_runs["sdk"]), _exit_delays(off_runs["off"])
            rows.append(
                {
                    "benchmark": f"exit, collector {collector}: SDK defaults by hand (comparison)",
                    "a": f"SDK {sdk:.3f} s",
                    "b": f"telemetry off {off:.3f} s",
                    "figure": f"+{sdk - off:.3f}",
                    "unit": "s",
                    "detail": f"BatchSpanProcessor + OTLPSpanExporter, one span; {sdk_rounds} rounds",
                    "goal": "",
                }
            )
    return rows


# -- activation ---------------------------------------------------------------------------------

ACTIVATION_PROGRAM = r"""
import json, sys, time
how, endpoint = sys.argv[1], sys.argv[2]
if how == "lazyotel":
    import lazyotel
    lazyotel.bootstrap("bench", endpoint=endpoint)
    tracer = lazyotel.get_tracer("bench")
    started = time.perf_counter()
    with tracer.start_as_current_span("first"):
        pass
    elapsed = time.perf_counter() - started
else:
    started = time.perf_counter()
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    if how == "by hand":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    trace.set_tracer_provider(provider)
    with trace.get_tracer("bench").start_as_current_span("first"):
        pass
    elapsed = time.perf_counter() - started
print(json.dumps(elapsed))
"""


def activation(rounds: int) -> list[dict[str, object]]:
    with OTLPReceiver() as receiver:
        variants = {
            how: Variant(
                [PYTHON, "-c", ACTIVATION_PROGRAM, how, receiver.endpoint], clean_env(LAZYOTEL_MODE="on")
            )
            for how in ("lazyotel", "by hand", "SDK only")
        }
        runs = interleave(variants, rounds)
    first = {how: median([json.loads(run.stdout) for run in found]) for how, found in runs.items()}
    return [
        {
            "benchmark": "activation: first traced call",
            "a": f"lazyotel {ms(first['lazyotel'])}",
            "b": f"SDK + OTLP exporter by hand {ms(first['by hand'])}",
            "ratio": first["lazyotel"] / first["by hand"],
            "detail": f"SDK alone, no exporter: {ms(first['SDK only'])}",
            "goal": "<= 1.10x",
        }
    ]


def main(rounds: int = ROUNDS, sdk_rounds: int = SDK_ROUNDS) -> list[dict[str, object]]:
    """Measure everything and return the rows.

    Args:
        rounds: Interleaved rounds per comparison (start-up runs twice as many: they are short).
        sdk_rounds: Rounds of the SDK-defaults exit comparison (7-10 s per run).

    Returns:
        One dict per row: ``benchmark``, ``a``, ``b``, ``ratio`` or ``figure``/``unit``,
        ``detail``, ``goal``.
    """
    return [*startup(rounds), *activation(rounds), *exit_delay(rounds, sdk_rounds)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--sdk-rounds", type=int, default=SDK_ROUNDS)
    parser.add_argument("--only", choices=("startup", "activation", "exit"))
    args = parser.parse_args()
    if args.only == "startup":
        found = startup(args.rounds)
    elif args.only == "activation":
        found = activation(args.rounds)
    elif args.only == "exit":
        found = exit_delay(args.rounds, args.sdk_rounds)
    else:
        found = main(args.rounds, args.sdk_rounds)
    print_table(found, ["benchmark", "a", "b", "ratio", "figure", "unit", "detail", "goal"])
