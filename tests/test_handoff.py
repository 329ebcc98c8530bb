"""Hand-off delivery: command -> spool file -> detached shipper -> a real OTLP receiver.

Every test runs real CLI processes with their own ``LAZYOTEL_SPOOL_DIR`` (a tmp_path) and
makes sure no shipper outlives it (``ship --wait``, or waiting for the shipper's lock).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _child import lazyotel_warnings, run_child

from lazyotel import _spool
from lazyotel._receiver import OTLPReceiver, refused_endpoint

PYTHON = sys.executable
EXPORTER_MODULES = ("requests", "urllib3", "grpc", "google.protobuf", "opentelemetry.exporter")

CLI = """
import atexit
import sys

def check_imports():  # registered first, so it runs last: after lazyotel's exit hook
    loaded = sorted(m for m in sys.modules if m.startswith(__MODULES__))
    sys.stderr.write(f"EXPORTER-MODULES {loaded}\\n")

atexit.register(check_imports)

import lazyotel

lazyotel.bootstrap("handoff-cli")
tracer = lazyotel.get_tracer("handoff.test")

@lazyotel.trace_command
def main(n=2):
    for i in range(n):
        with tracer.start_as_current_span(f"step-{i}") as span:
            span.set_attribute("i", i)
    print("result")

main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
stamp()
""".replace("__MODULES__", repr(EXPORTER_MODULES))


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "spool"
    yield directory
    wait_for_shippers(directory)


@pytest.fixture
def env(subprocess_env: dict[str, str], spool: Path) -> dict[str, str]:
    subprocess_env["LAZYOTEL_DELIVERY"] = "handoff"
    subprocess_env["LAZYOTEL_SPOOL_DIR"] = str(spool)
    return subprocess_env


def shippers(directory: Path) -> list[int]:
    """The pids of the shippers started for ``directory`` (detached: found in /proc)."""
    wanted = f"ship\0--spool\0{directory}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def wait_for_shippers(directory: Path, timeout: float = 60.0) -> None:
    """Wait until no shipper runs for the spool (nor holds its lock)."""
    if not directory.is_dir():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not shippers(directory) and not _spool.shipper_running(str(directory)):
            return
        time.sleep(0.05)
    msg = f"a shipper still runs for {directory}"
    raise AssertionError(msg)


def ship_wait(env: dict[str, str], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # --timeout wins over the LAZYOTEL_SHIP_TIMEOUT a test gave its detached shippers.
        [PYTHON, "-m", "lazyotel", "ship", "--wait", "--timeout", "60", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spool_json(env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [PYTHON, "-m", "lazyotel", "spool", "--json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def spool_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.json") if p.name != _spool.STATE_NAME)


class Relay:
    """A TCP port that refuses (not started), holds connections silently, or forwards to a
    receiver: the same collector address going down and coming back up."""

    def __init__(self) -> None:
        self.port = int(refused_endpoint().rsplit(":", 1)[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.target: int | None = None
        self.connections = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread: threading.Thread | None = None

    def start(self, target: int | None) -> None:
        """Listen; forward to ``target`` (a port), or hold every connection if None."""
        self.stop()
        self._stop = threading.Event()
        self.target = target
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.connections += 1
            self._socks.append(conn)
            if self.target is None:
                threading.Thread(target=self._drain, args=(conn,), daemon=True).start()
            else:
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self._socks.append(upstream)
                threading.Thread(target=self._pump, args=(conn, upstream), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()  # its accept() holds the listening socket open
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._socks = []


# -- the path end to end ---------------------------------------------------------------------


def test_handoff_delivers_through_the_shipper_and_the_command_imports_no_exporter(
    env: dict[str, str], spool: Path
) -> None:
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        assert child.stdout == "result\n"
        assert "EXPORTER-MODULES []" in child.stderr
        assert lazyotel_warnings(child) == []
        spans = receiver.wait_for(3, timeout=30)
    assert sorted(s.name for s in spans) == ["cli.main", "step-0", "step-1"]
    wait_for_shippers(spool)
    assert spool_files(spool) == []


def test_spool_files_are_private_and_the_exit_does_not_wait_for_a_dead_collector(
    env: dict[str, str], spool: Path
) -> None:
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    child = run_child(CLI, env)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "result\n"
    assert child.exit_seconds < 5
    wait_for_shippers(spool)
    files = spool_files(spool)
    assert len(files) == 1
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    document = json.loads(files[0].read_bytes())
    assert document["lazyotel"]["format"] == "lazyotel-spool"
    assert document["lazyotel"]["version"] == 1
    assert document["lazyotel"]["spans"] == 3
    assert document["lazyotel"]["destination"] == {
        "endpoint": env["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces",
        "protocol": "http/protobuf",
    }
    status = spool_json(env)
    assert (status["files"], status["spans"]) == (1, 3)
    assert "cannot reach the collector" in status["last_error"]


def test_no_header_value_is_written_to_disk(env: dict[str, str], spool: Path) -> None:
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    env["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer%20s3cr3t-env-value"
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    headers = 'headers={"x-api-key": "s3cr3t-code-value"}'
    code = CLI.replace('lazyotel.bootstrap("handoff-cli")', f'lazyotel.bootstrap("handoff-cli", {headers})')
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    wait_for_shippers(spool)
    assert spool_files(spool)
    for path in spool.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"s3cr3t" not in data, path


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_collector_down_for_run_1_up_for_run_2_every_span_arrives_once(
    env: dict[str, str], spool: Path, down: str
) -> None:
    relay = Relay()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = relay.endpoint
    env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1"
    env["LAZYOTEL_SHIP_TIMEOUT"] = "2"
    if down == "silent":
        relay.start(None)
    try:
        first = run_child(CLI, env, "3")
        assert first.returncode == 0, first.stderr
        assert first.stdout == "result\n"
        wait_for_shippers(spool)
        assert sum(f.spans for f in _spool.files(str(spool))) == 4  # kept for later
        with OTLPReceiver() as receiver:
            relay.start(receiver.port)
            second = run_child(CLI, env, "1")
            assert second.returncode == 0, second.stderr
            wait_for_shippers(spool)
            assert ship_wait(env).returncode == 0
            spans = receiver.spans
    finally:
        relay.stop()
    names = sorted(s.name for s in spans)
    assert names == sorted(["cli.main", "step-0", "step-1", "step-2", "cli.main", "step-0"])
    ids = [s.span_id for s in spans]
    assert len(set(ids)) == len(ids)  # once each
    assert spool_files(spool) == []


def test_parallel_clis_lose_and_duplicate_nothing(env: dict[str, str], spool: Path) -> None:
    processes = 8
    runs = int(os.environ.get("LAZYOTEL_TEST_PARALLEL_RUNS", "6"))  # the size: 50
    script = spool.parent / "cli.py"
    script.write_text("def stamp(): pass\n" + CLI)
    loop = (
        "import subprocess, sys\n"
        f"for _ in range({runs}):\n"
        f"    subprocess.run([sys.executable, {str(script)!r}, '1'], check=True, stdout=subprocess.DEVNULL)\n"
    )
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        workers = [subprocess.Popen([PYTHON, "-c", loop], env=env) for _ in range(processes)]
        for worker in workers:
            assert worker.wait(timeout=600) == 0
        wait_for_shippers(spool)
        assert ship_wait(env).returncode == 0
        spans = receiver.spans
    expected = processes * runs * 2
    ids = [s.span_id for s in spans]
    assert len(ids) == expected
    assert len(set(ids)) == expected


def test_a_shipper_killed_mid_send_loses_nothing(env: dict[str, str], spool: Path) -> None:
    relay = Relay()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = relay.endpoint
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    for n in (1, 2, 3):
        assert run_child(CLI, env, str(n)).returncode == 0  # refused: the files stay
    wait_for_shippers(spool)
    files = _spool.files(str(spool))
    assert [f.spans for f in files] == [2, 3, 4]
    relay.start(None)  # the collector now reads and never answers
    env["LAZYOTEL_SHIP_TIMEOUT"] = "60"
    env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "60"
    shipper = subprocess.Popen([PYTHON, "-m", "lazyotel", "ship"], env=env)
    try:
        deadline = time.monotonic() + 30
        while relay.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert relay.connections > 0  # mid-send
        shipper.kill()  # SIGKILL
        shipper.wait(10)
        with OTLPReceiver() as receiver:
            relay.start(receiver.port)
            assert run_child(CLI, env, "1").returncode == 0
            wait_for_shippers(spool)
            assert ship_wait(env).returncode == 0
            spans = receiver.spans
    finally:
        if shipper.poll() is None:
            shipper.kill()
        relay.stop()
    ids = [s.span_id for s in spans]
    assert len(set(ids)) == 2 + 3 + 4 + 2  # every span arrived
    assert len(ids) - len(set(ids)) <= 4  # at most one batch (the file in flight) twice


def test_spool_over_its_cap_drops_the_oldest_counts_and_reports_once(
    env: dict[str, str], spool: Path
) -> None:
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    sizes = []
    for _ in range(3):
        assert run_child(CLI, env, "4").returncode == 0
        wait_for_shippers(spool)
        sizes.append(spool_files(spool)[-1].stat().st_size)
    kept = spool_files(spool)
    assert len(kept) == 3
    env["LAZYOTEL_SPOOL_MAX_BYTES"] = str(sizes[-1] * 2 + sizes[-1] // 2)  # room for two files
    child = run_child(CLI, env, "4")
    assert child.returncode == 0
    assert child.stdout == "result\n"
    warnings = lazyotel_warnings(child)
    assert len(warnings) == 1
    assert "10 dropped" in warnings[0], warnings
    wait_for_shippers(spool)  # its shipper enforces the same cap
    after = spool_files(spool)
    assert len(after) == 2
    assert after[0] == kept[2]  # the oldest went first
    status = spool_json(env)
    assert status["dropped"] == 10
    # Reported once: the next run says nothing more.
    del env["LAZYOTEL_SPOOL_MAX_BYTES"]
    again = run_child(CLI, env, "0")
    assert lazyotel_warnings(again) == [], again.stderr
    wait_for_shippers(spool)


def test_an_unwritable_spool_falls_back_to_inline_with_one_warning(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env["LAZYOTEL_SPOOL_DIR"] = str(blocker / "spool")  # its parent is a file: cannot be created
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        assert child.stdout == "result\n"
        warnings = lazyotel_warnings(child)
        assert len(warnings) == 1
        assert "cannot be written" in warnings[0]
        assert "delivery='inline'" in warnings[0]
        spans = receiver.wait_for(3, timeout=10)  # delivered before the command exited
    assert len(spans) == 3


def test_corrupt_and_newer_files_never_crash_the_shipper(env: dict[str, str], spool: Path) -> None:
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
        spool.mkdir(mode=0o700)
        refused = refused_endpoint()
        # A good file, a truncated one, one of a newer format.
        code = CLI.replace("lazyotel.bootstrap(", f"lazyotel.bootstrap(endpoint={refused!r}, service_name=")
        child = run_child(code, env)
        assert child.returncode == 0, child.stderr
        wait_for_shippers(spool)
        good = spool_files(spool)[0]
        document = json.loads(good.read_bytes())
        document["lazyotel"]["destination"]["endpoint"] = receiver.traces_url  # the collector moved
        good.write_text(json.dumps(document))
        _spool.write(str(spool), good.read_bytes()[:100], 7)  # truncated by a crash
        newer = dict(document, lazyotel=dict(document["lazyotel"], version=99))
        newer_path = _spool.write(str(spool), json.dumps(newer).encode(), 3)
        proc = ship_wait(env)
        assert proc.returncode == 1  # the newer file is left for a newer lazyotel
        assert sorted(s.name for s in receiver.spans) == ["cli.main", "step-0", "step-1"]
    assert [str(p) for p in spool_files(spool)] == [newer_path]
    assert len(list((spool / "rejected").iterdir())) == 1
    status = spool_json(env)
    assert status["rejected"] == 7
    assert "not valid JSON" in status["last_error"]


def test_a_permanent_rejection_sets_the_file_aside(env: dict[str, str], spool: Path) -> None:
    from _http import PathServer

    with PathServer(status=400) as server:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = server.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0
        wait_for_shippers(spool)
        assert ship_wait(env).returncode == 0
    assert spool_files(spool) == []
    assert len(list((spool / "rejected").iterdir())) == 1
    assert spool_json(env)["rejected"] == 3


def test_test_mode_writes_nothing_and_starts_no_shipper(env: dict[str, str], spool: Path) -> None:
    env["PYTEST_VERSION"] = "8"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    code = CLI + (
        "from lazyotel.testing import capture_spans\n"
        "with capture_spans() as spans:\n"
        "    main(1)\n"
        "print(sorted(s.name for s in spans))\n"
    )
    child = run_child(code, env)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "result\nresult\n['cli.main', 'step-0']\n"
    assert not spool.exists()


# -- the same spans, whichever way they travel ---------------------------------------------

WORKLOAD = """
import random
random.seed(20261129)  # the SDK's ids come from random.getrandbits: the same ids in both runs
import sys
import httpx
import lazyotel

lazyotel.bootstrap("diff-cli", instrument=["httpx"], resource_attributes={"deployment.environment": "ci"})
tracer = lazyotel.get_tracer("diff.scope", "1.2.3")

@lazyotel.trace_command("inner")
def inner(token, count=3):
    with tracer.start_as_current_span("attrs") as span:
        span.set_attributes({
            "s": "text", "b": True, "i": -7, "f": 2.5, "big": 2**62,
            "ls": ["a", "b"], "lb": [True, False], "li": [1, 2, 3], "lf": [0.5, 1.5], "empty": "",
            "ln": ["a", None],  # a sequence may hold None: an empty AnyValue on the wire
        })
        span.add_event("checkpoint", {"n": 1, "tags": ["x", "y"]})
        span.add_event("bare")
    with tracer.start_as_current_span("fails"):
        try:
            raise ValueError("boom")
        except ValueError:
            pass
    httpx.get(sys.argv[1])
    return {"operation_id": "op-42"}

@lazyotel.trace_command
def main():
    inner("hidden-value")
    raise SystemExit(3)

main()
"""


def _comparable(span: Any) -> dict[str, Any]:
    record = {name: getattr(span, name) for name in type(span)._fields()}
    for name in ("start_ns", "end_ns"):
        record.pop(name)
    record["attributes"] = {k: v for k, v in span.attributes.items() if k != "process.pid"}
    record["events"] = [(e.name, e.attributes) for e in span.events]
    # A new id for every process (the SDK's resource detector), whatever the delivery.
    record["resource"] = {k: v for k, v in span.resource.items() if k != "service.instance.id"}
    # Hand-off records with lazyotel's recorder, which names itself (issue 13): by key only.
    for key in ("telemetry.sdk.name", "telemetry.sdk.version"):
        record["resource"][key] = key in span.resource
    return record


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_handoff_and_inline_deliver_identical_spans(env: dict[str, str], protocol: str) -> None:
    from _http import HeaderServer

    server = HeaderServer()
    got: dict[str, list[dict[str, Any]]] = {}
    seen: dict[str, list[dict[str, str]]] = {}
    sdk_names: dict[str, set[Any]] = {}
    try:
        for delivery in ("inline", "handoff"):
            with OTLPReceiver(protocol) as receiver:
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
                env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
                env["LAZYOTEL_DELIVERY"] = delivery
                server.received.clear()
                child = run_child(WORKLOAD, env, server.url, level=None)
                assert child.returncode == 3, child.stderr
                if delivery == "handoff":
                    assert ship_wait(env).returncode == 0
                spans = receiver.wait_for(5, timeout=20)
                got[delivery] = sorted((_comparable(s) for s in spans), key=lambda r: r["span_id"])
                sdk_names[delivery] = {s.resource.get("telemetry.sdk.name") for s in spans}
                seen[delivery] = list(server.received)
    finally:
        server.close()
    assert len(got["handoff"]) == 5
    assert got["handoff"] == got["inline"]
    names = sorted(r["name"] for r in got["handoff"])
    assert names == ["GET", "attrs", "cli.inner", "cli.main", "fails"]
    client = next(r for r in got["handoff"] if r["kind"] == "CLIENT")
    assert seen["handoff"][0]["traceparent"].startswith(f"00-{client['trace_id']}-{client['span_id']}-")
    assert seen["handoff"] == seen["inline"]


def test_spans_read_back_from_the_spool_encode_as_the_originals() -> None:
    """Every field the OTLP protobuf carries (links, trace state, flags, dropped counts, scope
    version and attributes, schema URLs) survives the JSON file."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import (
        Link,
        NonRecordingSpan,
        SpanContext,
        SpanKind,
        TraceFlags,
        TraceState,
        set_span_in_context,
    )
    from opentelemetry.trace.status import Status, StatusCode

    from lazyotel import _otlpjson, _ship

    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "x", "n": 3}, "https://schema/1"),
        span_limits=SpanLimits(max_span_attributes=3, max_events=1, max_links=1),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("scope", "9.9", "https://schema/scope", attributes={"a": "b"})
    remote = SpanContext(
        0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")])
    )
    with tracer.start_as_current_span(
        "root",
        context=set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        links=[Link(remote, {"l": 1}), Link(remote)],
    ) as root:
        root.set_attributes({"a": 1, "b": 2.0, "c": "3", "d": [True], "e": 5})
        root.add_event("one", {"x": b"\x00\xff".decode("latin-1")})
        root.add_event("two")
        root.set_status(Status(StatusCode.ERROR, "bad"))
        with tracer.start_as_current_span("child", kind=SpanKind.PRODUCER) as child:
            child.set_attribute("nan", float("nan"))
            child.set_attribute("inf", float("-inf"))
    originals = memory.get_finished_spans()
    data, count = _otlpjson.dumps(originals, "http://h:4318/v1/traces", "http/protobuf", 1)
    assert count == 2
    decoded = _ship.decode(_otlpjson.loads(data))
    before, after = encode_spans(originals), encode_spans(decoded)
    assert str(after) == str(before)  # str: NaN != NaN in a message comparison


# -- forked and multiprocessing workers ------------------------------------------------------

POOL_CLI = """
import multiprocessing
import os
import sys

import lazyotel

lazyotel.bootstrap("pool-cli")


@lazyotel.trace_command
def work(i):
    return i * 2


@lazyotel.trace_command
def main(method):
    if method == "os.fork":
        pid = os.fork()
        if pid == 0:
            work(100)
            os._exit(0)  # no exit hook runs
        os.waitpid(pid, 0)
        return
    with multiprocessing.get_context(method).Pool(2) as pool:  # __exit__ terminates the workers
        print(sum(pool.map(work, range(8))))


if __name__ == "__main__":
    main(sys.argv[1])
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn", "os.fork"])
def test_every_worker_span_reaches_the_spool(
    env: dict[str, str], spool: Path, tmp_path: Path, method: str
) -> None:
    script = tmp_path / "pool_cli.py"
    script.write_text(POOL_CLI)
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        proc = subprocess.run(
            [PYTHON, str(script), method], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        wait_for_shippers(spool)
        assert ship_wait(env).returncode == 0
        names = sorted(receiver.names())
    workers = 1 if method == "os.fork" else 8
    assert names == ["cli.main"] + ["cli.work"] * workers


# -- inline delivery spills what it cannot deliver --------------------------------------------


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_inline_keeps_what_it_could_not_deliver_in_the_spool(
    env: dict[str, str], spool: Path, down: str
) -> None:
    relay = Relay()
    env["LAZYOTEL_DELIVERY"] = "inline"
    env["LAZYOTEL_FLUSH_TIMEOUT"] = "0.5"
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = relay.endpoint
    env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "1"
    if down == "silent":
        relay.start(None)
    try:
        child = run_child(CLI, env, "20")
        assert child.returncode == 0, child.stderr
        assert child.stdout == "result\n"
        assert child.exit_seconds < 5
        wait_for_shippers(spool)
        assert sum(f.spans for f in _spool.files(str(spool))) == 21
        with OTLPReceiver() as receiver:
            relay.start(receiver.port)
            assert ship_wait(env).returncode == 0
            spans = receiver.spans
    finally:
        relay.stop()
    ids = [s.span_id for s in spans]
    assert len(set(ids)) == 21


def test_inline_spills_a_full_queue_instead_of_dropping(env: dict[str, str], spool: Path) -> None:
    env["LAZYOTEL_DELIVERY"] = "inline"
    env["OTEL_BSP_MAX_QUEUE_SIZE"] = "8"
    env["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = "8"
    env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"  # nothing leaves before the exit
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env, "200")
        assert child.returncode == 0, child.stderr
        assert lazyotel_warnings(child) == []
        wait_for_shippers(spool)
        assert ship_wait(env).returncode == 0
        ids = [s.span_id for s in receiver.spans]
    assert len(ids) == 201
    assert len(set(ids)) == 201


# -- where hand-off cannot work, and the exit ---------------------------------------------------


def test_the_command_never_waits_for_its_shipper(env: dict[str, str], spool: Path) -> None:
    """The shipper inherits no stdio: run() would wait for the pipes' EOF otherwise."""
    with OTLPReceiver(behaviour="silent") as silent:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = silent.endpoint
        env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "30"
        env["LAZYOTEL_SHIP_TIMEOUT"] = "30"
        started = time.monotonic()
        child = run_child(CLI, env)
        took = time.monotonic() - started
        assert child.returncode == 0, child.stderr
        assert child.stdout == "result\n"
        assert child.exit_seconds < 5
        assert took < 20
        deadline = time.monotonic() + 10
        while not shippers(spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        running = shippers(spool)
        assert running  # still trying, detached, after the command is gone
        for pid in running:
            os.kill(pid, 9)
    wait_for_shippers(spool)


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ("sys.frozen = True", "frozen"),
        (
            'lazyotel.bootstrap("handoff-cli", exporter=lambda: OTLPSpanExporter())',
            "exporter object or factory",
        ),
        ('lazyotel.bootstrap("handoff-cli", exporter="console")', "not console"),
    ],
)
def test_where_handoff_cannot_work_spans_go_inline(
    env: dict[str, str], spool: Path, setup: str, why: str
) -> None:
    exporter = "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter"
    code = CLI.replace("import lazyotel\n", f"import lazyotel\n{exporter}\n")
    boot = 'lazyotel.bootstrap("handoff-cli")\n'
    code = code.replace(boot, f"{boot}{setup}\n")
    env["LAZYOTEL_LOG"] = "debug"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(code, env, level="DEBUG")
        assert child.returncode == 0, child.stderr
        assert child.stdout.startswith("result\n")
        inline = [line for line in child.log if "delivery: inline" in line]
        assert len(inline) == 1, child.stderr
        assert why in inline[0]
        if why != "not console":
            assert len(receiver.wait_for(3, timeout=10)) == 3
    assert not spool.exists()


def test_a_dead_destination_does_not_hold_up_the_others(env: dict[str, str], spool: Path) -> None:
    """The collector moved: files for the old address wait (and age out); new ones go at once."""
    env["LAZYOTEL_SHIP_TIMEOUT"] = "3"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    assert run_child(CLI, env, "1").returncode == 0
    wait_for_shippers(spool)
    old = spool_files(spool)
    assert len(old) == 1
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        assert run_child(CLI, env, "2").returncode == 0
        wait_for_shippers(spool)
        names = sorted(receiver.names())
    assert names == ["cli.main", "step-0", "step-1"]
    assert spool_files(spool) == old


def test_a_full_disk_changes_nothing_for_the_command_but_one_warning(
    env: dict[str, str], spool: Path
) -> None:
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    spool.mkdir(mode=0o700)
    # Files may not grow past 64 bytes: the spool file's write fails as on a full disk.
    full = "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    full += "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
    child = run_child(full + CLI, env)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "result\n"
    warnings = lazyotel_warnings(child)
    assert len(warnings) == 1
    assert "3 spans could not be written to the spool" in warnings[0]
    assert list(spool.iterdir()) == []  # no half-written file left behind


def test_a_bad_delivery_is_a_clear_error() -> None:
    import lazyotel

    with pytest.raises(
        ValueError, match=r"bootstrap\(delivery='later'\): unknown delivery; choose one of 'handoff'"
    ):
        lazyotel.bootstrap(delivery="later")


def test_a_bad_lazyotel_delivery_is_one_warning_and_handoff(env: dict[str, str], spool: Path) -> None:
    env["LAZYOTEL_DELIVERY"] = "later"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        warnings = lazyotel_warnings(child)
        assert len(warnings) == 1
        assert "LAZYOTEL_DELIVERY='later'" in warnings[0]
        assert "EXPORTER-MODULES []" in child.stderr  # handed off all the same
        assert len(receiver.wait_for(3, timeout=30)) == 3


def test_the_age_cap_counts_expired_spans_and_a_clock_jump_expires_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = str(tmp_path / "spool")
    _spool.ensure(directory)
    monkeypatch.setenv("LAZYOTEL_SPOOL_MAX_AGE", "60")
    old = _spool.write(directory, b"{}", 4)
    new = _spool.write(directory, b"{}", 2)
    created = _spool.files(directory)[0].created_ns
    # The clock jumped back an hour: both files look as if from the future; none expires.
    assert _spool.enforce_caps(directory, now_ns=created - 3600 * 10**9) == {"dropped": 0, "expired": 0}
    # Two minutes later: past the 60 s cap, both expire and are counted.
    assert _spool.enforce_caps(directory, now_ns=created + 120 * 10**9) == {"dropped": 0, "expired": 6}
    assert not os.path.exists(old)
    assert not os.path.exists(new)
    assert _spool.read_state(directory)["expired"] == 6
    assert _spool.take_unreported(directory) == {"expired": 6}
    assert _spool.take_unreported(directory) == {}  # reported once


def test_lazyotel_spool_shows_and_clears(env: dict[str, str], spool: Path) -> None:
    endpoint = refused_endpoint()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env["LAZYOTEL_SHIP_TIMEOUT"] = "1"
    assert run_child(CLI, env).returncode == 0
    wait_for_shippers(spool)
    shown = subprocess.run(
        [PYTHON, "-m", "lazyotel", "spool"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"spool          {spool}\n" in shown
    assert "pending        1 files, 3 spans" in shown
    assert f"destination    {endpoint}/v1/traces (http/protobuf): 3 spans" in shown
    assert "last error     cannot reach the collector" in shown
    cleared = subprocess.run(
        [PYTHON, "-m", "lazyotel", "spool", "--clear", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "deleted 1 files" in cleared.stderr
    status = json.loads(cleared.stdout)
    assert (status["files"], status["spans"], status["last_error"]) == (0, 0, None)
    assert spool_files(spool) == []


def test_a_shipper_gives_up_soon_when_every_collector_is_down(env: dict[str, str], spool: Path) -> None:
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = refused_endpoint()
    env["LAZYOTEL_SHIP_TIMEOUT"] = "120"
    assert run_child(CLI, env).returncode == 0
    deadline = time.monotonic() + 10
    while not shippers(spool) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    wait_for_shippers(spool, timeout=40)  # gone long before its 120 s
    assert time.monotonic() - started < 40
    assert len(spool_files(spool)) == 1  # left for the next run
    assert "files left for the next run" in (spool / "ship.log").read_text()


def test_a_long_running_process_writes_its_spans_without_waiting_for_its_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from lazyotel import _handoff

    started: list[str] = []
    monkeypatch.setattr(_spool, "start_shipper", lambda directory, env: started.append(directory))
    monkeypatch.setattr(_handoff, "WRITE_AFTER", 0.05)
    directory = str(tmp_path / "spool")
    _spool.ensure(directory)
    processor = _handoff.HandoffProcessor(directory, "http://127.0.0.1:9/v1/traces", "http/protobuf", {})
    provider = TracerProvider()
    provider.add_span_processor(processor)  # type: ignore[arg-type]
    tracer = provider.get_tracer("t")
    tracer.start_span("first").end()
    assert _spool.files(directory) == []  # held
    time.sleep(0.1)
    tracer.start_span("second").end()  # the first was kept long enough ago: both are written
    assert [f.spans for f in _spool.files(directory)] == [2]
    assert started == [directory]
    processor.shutdown()


def test_inline_creates_no_spool_when_everything_is_delivered(env: dict[str, str], spool: Path) -> None:
    env["LAZYOTEL_DELIVERY"] = "inline"
    with OTLPReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        child = run_child(CLI, env)
        assert child.returncode == 0, child.stderr
        assert len(receiver.wait_for(3, timeout=10)) == 3
    assert not spool.exists()
