"""Hand-off delivery on the ktrade example, whole processes: off vs ``handoff`` vs ``inline`` vs eager.

Run it as ``python benchmarks/bench_handoff.py [--rounds N]`` (prints a table), or call ``main()``
from ``run_all.py``. Every figure is a fresh interpreter timed from spawn to exit; the variants
of one comparison run interleaved and the figures are medians.

Comparisons:

1. A traced command with one HTTP request (``data load``) and one without (``models backtest``
   with a usage error: the span, no request), telemetry off vs ``handoff`` vs ``inline`` (and
   eager, which exports over gRPC only), OTLP/HTTP and OTLP/gRPC to a live receiver. Goal:
   ``handoff`` <= 1.15x off. Every traced run must deliver its span (handoff: through the
   shipper, checked after the rounds).
2. Exit with the collector refusing connections, accepting and never answering, and answering
   after 0.5 s: each mode against itself with a healthy collector (goal for ``handoff``: <= +10 ms,
   the command never waits for the network).
3. Peak memory (max RSS) of ``data load``: ``handoff`` against off (goal: <= 1.1x).
4. Delivery latency: from the end of the command's span (its exit follows) to its spans at the
   receiver (goal: median <= 1 s).
5. CPU: the command's own (user + sys) in each mode, and the shipper's per run (work moved, not
   removed).
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
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
from lazyotel import _spool
from lazyotel._receiver import OTLPReceiver, refused_endpoint

ROUNDS = 7
SLOW_ROUNDS = 3
COLUMNS = ["benchmark", "a", "b", "ratio", "detail", "goal"]
Row = dict[str, object]

SPOOL = Path(tempfile.mkdtemp(prefix="lazyotel-bench-spool-"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env(**extra).items() if not k.startswith("KTRADE_") or k in extra}
    env["LAZYOTEL_SPOOL_DIR"] = str(SPOOL)
    return env


def _row(benchmark: str, a: str, b: str, ratio: float, detail: str, goal: str = "") -> Row:
    return {"benchmark": benchmark, "a": a, "b": b, "ratio": round(ratio, 2), "detail": detail, "goal": goal}


def _ok_or_usage_error(run: Run) -> None:
    if run.returncode not in (0, 1, 2):
        msg = f"exit {run.returncode}:\n{run.stderr[-2000:]}"
        raise RuntimeError(msg)


def _quiet_shippers(timeout: float = 60.0) -> None:
    """Wait until no shipper runs for the benchmark's spool (so it does not load the next runs)."""
    deadline = time.monotonic() + timeout
    wanted = f"ship\0--spool\0{SPOOL}\0".encode()
    while time.monotonic() < deadline:
        busy = False
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    busy = busy or wanted in (entry / "cmdline").read_bytes()
        if not busy and not _spool.shipper_running(str(SPOOL)):
            return
        time.sleep(0.05)


COMMANDS = {
    "data load (1 HTTP request)": ("data", "load", "EURUSD"),
    "models backtest (no request)": ("models", "backtest", "--fast", "30", "--slow", "10"),
}
MODES = {
    "off": {"LAZYOTEL_MODE": "off"},
    "handoff": {"LAZYOTEL_MODE": "on", "LAZYOTEL_DELIVERY": "handoff"},
    "inline": {"LAZYOTEL_MODE": "on", "LAZYOTEL_DELIVERY": "inline"},
}


def _variant(module: str, args: tuple[str, ...], env: dict[str, str]) -> Variant:
    return Variant([PYTHON, "-m", module, *args], env, _ok_or_usage_error)


def bench_traced(rounds: int) -> list[Row]:
    rows: list[Row] = []
    for protocol in ("http/protobuf", "grpc"):
        with OTLPReceiver(protocol) as receiver, ApiServer() as api:
            otlp = {"OTEL_EXPORTER_OTLP_PROTOCOL": protocol}
            for title, command in COMMANDS.items():
                # --url points telemetry at the collector on the API's host, --otlp-port its port.
                args = ("--url", api.url, "--otlp-port", str(receiver.port), *command)
                variants = {
                    mode: _variant("examples.ktrade", args, _env(**otlp, **extra))
                    for mode, extra in MODES.items()
                }
                if protocol == "grpc":  # eager exports over gRPC, where OTEL_EXPORTER_OTLP_ENDPOINT says
                    eager = _env(**otlp, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
                    variants["eager"] = _variant("examples.ktrade.eager", args, eager)
                results = interleave(variants, rounds)
                _quiet_shippers()
                if _spool.files(str(SPOOL)):
                    msg = f"spans left in the spool after {title}, {protocol}: not delivered"
                    raise RuntimeError(msg)
                t = {name: median_seconds(runs) * 1e3 for name, runs in results.items()}
                cpu = _cpu(variants, rounds=min(rounds, SLOW_ROUNDS))
                off = t["off"]
                for name in [n for n in variants if n != "off"]:
                    goal = "<= 1.15x" if name == "handoff" else ""
                    detail = (
                        f"{t[name]:.0f} ms vs {off:.0f} ms; CPU {cpu[name]:.0f} ms vs {cpu['off']:.0f} ms"
                    )
                    rows.append(
                        _row(f"{title}, {protocol}", name, "telemetry off", t[name] / off, detail, goal)
                    )
    return rows


def _cpu(variants: dict[str, Variant], rounds: int) -> dict[str, float]:
    """Median CPU (user + sys, ms) of each variant's own process (shippers excluded)."""
    out: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, variant in variants.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(variant.argv, env=variant.env, capture_output=True, check=False, timeout=120)
            out[name].append(_cpu_ms(before, resource.getrusage(resource.RUSAGE_CHILDREN)))
            _quiet_shippers()  # detached shippers are not our children: not counted here
    return {name: median(values) for name, values in out.items()}


class _Slow:
    """A collector that answers every export with 200, after 0.5 s."""

    def __enter__(self) -> _Slow:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(0.5)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def bench_exit(rounds: int) -> list[Row]:
    """``data load`` with the collector refusing, silent or slow, against the same mode with it up.

    The difference is what the exit waits for the network (handoff's goal: <= 10 ms).
    """
    rows: list[Row] = []
    silent, live = OTLPReceiver(behaviour="silent"), OTLPReceiver()
    with silent, live, ApiServer() as api, _Slow() as slow:
        ports = {
            "up": str(live.port),
            "refused": refused_endpoint().rsplit(":", 1)[1],
            "silent": str(silent.port),
            "slow": str(slow.port),
        }
        variants = {}
        for case, port in ports.items():
            args = ("--url", api.url, "--otlp-port", port, "data", "load", "EURUSD")
            for mode in ("handoff", "inline"):
                env = _env(LAZYOTEL_SHIP_TIMEOUT="2", **MODES[mode])
                variants[f"{mode} {case}"] = _variant("examples.ktrade", args, env)
        args = ("--url", api.url, "--otlp-port", ports["up"], "data", "load", "EURUSD")
        variants["off"] = _variant("examples.ktrade", args, _env(**MODES["off"]))
        runs = interleave(variants, min(rounds, 5))
        t = {name: median_seconds(found) * 1e3 for name, found in runs.items()}
        _quiet_shippers()
    for case in ("refused", "silent", "slow"):
        for mode in ("handoff", "inline"):
            up, down = t[f"{mode} up"], t[f"{mode} {case}"]
            goal = "<= + 10 ms" if mode == "handoff" else "+ <= flush_timeout (1 s)"
            detail = f"{down:.0f} ms vs {up:.0f} ms: {down - up:+.0f} ms; telemetry off {t['off']:.0f} ms"
            rows.append(
                _row(
                    f"exit, collector {case}",
                    f"{mode}, {case}",
                    f"{mode}, collector up",
                    down / up,
                    detail,
                    goal,
                )
            )
    _spool.clear(str(SPOOL))
    return rows


def bench_memory(rounds: int) -> list[Row]:
    with OTLPReceiver() as receiver, ApiServer() as api:
        args = ("--url", api.url, "--otlp-port", str(receiver.port), "data", "load", "EURUSD")
        mib: dict[str, float] = {}
        for mode, extra in MODES.items():
            variant = _variant("examples.ktrade", args, _env(**extra))
            found = [peak_rss_mib(variant) for _ in range(min(rounds, SLOW_ROUNDS))]
            _quiet_shippers()
            if None in found:
                return [
                    _row(
                        "data load, peak memory", "handoff", "telemetry off", float("nan"), "no /usr/bin/time"
                    )
                ]
            mib[mode] = median([value for value in found if value is not None])
    base = mib["off"]
    return [
        _row("data load, peak memory", mode, "telemetry off", mib[mode] / base,
             f"{mib[mode]:.1f} MiB vs {base:.1f} MiB (max RSS)", "<= 1.1x" if mode == "handoff" else "")
        for mode in ("handoff", "inline")
    ]  # fmt: skip


def _cpu_ms(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e3


def bench_latency_and_shipper(rounds: int) -> list[Row]:
    """Exit -> spans at the receiver, through the detached shipper; and the shipper's CPU."""
    latencies: list[float] = []
    ship_cpu: list[float] = []
    with OTLPReceiver() as receiver, ApiServer() as api:
        env = _env(LAZYOTEL_MODE="on")
        base = [PYTHON, "-m", "examples.ktrade", "--url", api.url, "--otlp-port"]
        argv = [*base, str(receiver.port), "data", "load", "EURUSD"]
        for _ in range(rounds):
            _quiet_shippers()
            before = len(receiver.spans)
            subprocess.run(argv, env=env, capture_output=True, check=False, timeout=120)
            spans = receiver.wait_for(before + 1, timeout=30)[before:]
            arrived = time.time()
            # From the end of the command's last span (just before its exit hooks run) to the
            # moment its spans were at the receiver: includes the interpreter's own exit.
            latencies.append(arrived - max(span.end_ns for span in spans) / 1e9)
        # The shipper's own CPU for one run's file: a run against a dead collector leaves its
        # file; `ship --wait` in the foreground then sends it (the detached one's work).
        dead = refused_endpoint().rsplit(":", 1)[1]
        down = [*base, dead, "data", "load", "EURUSD"]
        for _ in range(min(rounds, 5)):
            _quiet_shippers()
            _spool.clear(str(SPOOL))
            subprocess.run(down, env=dict(env, LAZYOTEL_SHIP_TIMEOUT="0.5"), capture_output=True, check=False)
            _quiet_shippers()
            for spool_file in _spool.files(str(SPOOL)):  # the collector is back, at its new port
                path = Path(spool_file.path)
                path.write_bytes(
                    path.read_bytes().replace(f":{dead}/".encode(), f":{receiver.port}/".encode())
                )
            before_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([PYTHON, "-m", "lazyotel", "ship", "--wait"], env=env, check=False, timeout=120)
            ship_cpu.append(_cpu_ms(before_usage, resource.getrusage(resource.RUSAGE_CHILDREN)))
    lat = median(latencies)
    return [
        _row("delivery latency (exit -> receiver)", "handoff", "-", lat, f"median {lat * 1e3:.0f} ms, "
             f"max {max(latencies) * 1e3:.0f} ms over {len(latencies)} runs", "median <= 1 s"),
        _row("shipper CPU per run", "ship (one file)", "-", median(ship_cpu) / 1e3,
             f"median {median(ship_cpu):.0f} ms CPU (interpreter, SDK, exporter, one export)", "reported"),
    ]  # fmt: skip


def main(rounds: int = ROUNDS) -> list[Row]:
    """Run every comparison and return the rows of the table."""
    try:
        return [
            *bench_traced(rounds),
            *bench_exit(rounds),
            *bench_memory(rounds),
            *bench_latency_and_shipper(rounds),
        ]
    finally:
        _quiet_shippers()
        shutil.rmtree(SPOOL, ignore_errors=True)


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    print_table(main(count), COLUMNS)
