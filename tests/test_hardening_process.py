"""Process life (issue 9): Ctrl-C during activation and during the exit flush, an exporter
raising a BaseException, fork while another thread activates, multiprocessing workers, and
the exit flush on interpreters that refuse threads at exit (CPython 3.12.0/3.12.1).

Every test runs real processes and sends real signals at chosen moments: the moment is
chosen by what the child prints (a slow exporter factory announces itself, a command prints
before it waits), never by a hook inside lazyotel. Fault tests compare the run with the same
program run with telemetry off.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _child import run_child

from lazyotel._receiver import OTLPReceiver

PYTHON = sys.executable

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and fork: POSIX behaviour")


def stray_stderr(stderr: str) -> list[str]:
    """stderr lines that are neither lazyotel's log lines nor empty."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("LOG ")]


def start(code: str, env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-c", textwrap.dedent(code), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(stream: object, text: str, limit: int = 50) -> list[str]:
    """Read lines from ``stream`` until one contains ``text``; return the lines read."""
    seen: list[str] = []
    for _ in range(limit):
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    msg = f"never saw {text!r}; got {seen!r}"
    raise AssertionError(msg)


def finish(child: subprocess.Popen[str], timeout: float = 20.0) -> tuple[str, str]:
    try:
        return child.communicate(timeout=timeout)
    finally:
        child.kill()


# -- item 6: Ctrl-C during activation ----------------------------------------------------------

SLOW_FACTORY = """
import sys, time
import lazyotel

class SlowExporter:
    '''A real exporter factory that takes a while: the Ctrl-C lands while it is built.'''

    def __init__(self):
        sys.stderr.write("BUILDING\\n")
        sys.stderr.flush()
        time.sleep({build_seconds})

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True

lazyotel.bootstrap("ctrl-c", exporter=SlowExporter, flush_timeout=1.0)
"""

ATTACH = """
@lazyotel.trace_command
def attach():
    try:
        # One write, then the flush: a Ctrl-C landing inside print() (between the text and its
        # newline) would cut the line, with telemetry or without; a cut flush keeps the buffer.
        sys.stdout.write("attached\\n")
        sys.stdout.flush()
        sys.stderr.write("WAITING\\n")
        sys.stderr.flush()
        time.sleep(20)
    except KeyboardInterrupt:
        print("detached", flush=True)
        raise SystemExit(0)
    print("finished without Ctrl-C", flush=True)

attach()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_activation_reaches_the_commands_own_handler(
    subprocess_env: dict[str, str], signum: int
) -> None:
    """Ctrl-C while the exporter is built: the body runs and its KeyboardInterrupt handler
    detaches (exit 0), exactly as when the same Ctrl-C reaches the command without telemetry.
    SIGTERM with a Python handler that raises KeyboardInterrupt behaves the same."""
    handler = (
        ""
        if signum == signal.SIGINT
        else "import signal; signal.signal(signal.SIGTERM, signal.default_int_handler)\n"
    )
    program = handler + SLOW_FACTORY.format(build_seconds=3) + ATTACH
    results = {}
    for mode in ("on", "off"):
        child = start(program, {**subprocess_env, "LAZYOTEL_MODE": mode})
        assert child.stderr is not None
        # On: the signal lands while the exporter is built. Off: while the command waits.
        wait_for_line(child.stderr, "BUILDING" if mode == "on" else "WAITING")
        child.send_signal(signum)
        out, err = finish(child)
        results[mode] = (child.returncode, out, stray_stderr(err))
    assert results["off"] == (0, "attached\ndetached\n", []), results
    assert results["on"][:2] == results["off"][:2], results
    # Nothing but the command's own stderr (no traceback, no warning: the user chose to stop).
    assert results["on"][2] == ["WAITING"], results


def test_two_ctrl_c_during_activation_make_one_keyboard_interrupt(subprocess_env: dict[str, str]) -> None:
    program = SLOW_FACTORY.format(build_seconds=1) + ATTACH
    child = start(program, {**subprocess_env, "LAZYOTEL_MODE": "on"})
    assert child.stderr is not None
    wait_for_line(child.stderr, "BUILDING")
    child.send_signal(signal.SIGINT)
    child.send_signal(signal.SIGINT)  # as an impatient user would
    out, err = finish(child)
    assert (child.returncode, out) == (0, "attached\ndetached\n"), err
    assert stray_stderr(err) == ["WAITING"]


SLOW_SDK_IMPORT = '''
import importlib.abc, sys, time

class SlowImport(importlib.abc.MetaPathFinder):
    """The SDK's import takes 2 s here, as on a cold disk: the Ctrl-C lands inside it."""

    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry.sdk.trace":
            sys.stderr.write("IMPORTING\\n")
            sys.stderr.flush()
            time.sleep(2)
        return None

sys.meta_path.insert(0, SlowImport())
'''


def test_ctrl_c_during_the_sdk_import_reaches_the_command_and_tracing_still_starts(
    subprocess_env: dict[str, str],
) -> None:
    """No module is torn half imported: the import finishes, the span is recorded (the
    console exporter prints it at exit), then the command gets its Ctrl-C."""
    program = SLOW_SDK_IMPORT + SLOW_FACTORY.format(build_seconds=0) + ATTACH
    program = program.replace("exporter=SlowExporter", 'exporter="console"')
    child = start(program, {**subprocess_env, "LAZYOTEL_MODE": "on"})
    assert child.stderr is not None
    wait_for_line(child.stderr, "IMPORTING")
    child.send_signal(signal.SIGINT)
    out, err = finish(child)
    assert (child.returncode, out) == (0, "attached\ndetached\n"), err
    assert '"name": "cli.attach"' in err  # the console exporter writes spans to stderr


# -- item 6: Ctrl-C during the exit flush ---------------------------------------------------------

EXIT_FLUSH = """
import sys
import lazyotel
lazyotel.bootstrap("exit", endpoint={endpoint!r}, flush_timeout=8.0)
with lazyotel.get_tracer("exit").start_as_current_span("command"):
    pass
print("done", flush=True)
sys.exit(3)
"""


@pytest.mark.parametrize(
    ("signum", "handler"),
    [
        (signal.SIGINT, ""),
        (signal.SIGTERM, "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(143))\n"),
    ],
)
def test_a_signal_during_the_exit_flush_stops_waiting_quietly(
    subprocess_env: dict[str, str], signum: int, handler: str
) -> None:
    """The exit flush waits on a silent collector; Ctrl-C (or a SIGTERM handler calling
    sys.exit) ends the wait at once, with the program's own exit code and no "Exception
    ignored in atexit callback" traceback."""
    with OTLPReceiver(behaviour="silent") as silent:
        program = handler + EXIT_FLUSH.format(endpoint=silent.endpoint)
        off = run_child(program, {**subprocess_env, "LAZYOTEL_MODE": "off"}, level=None)
        child = start(program, {**subprocess_env, "LAZYOTEL_MODE": "on"})
        assert child.stdout is not None
        wait_for_line(child.stdout, "done")
        time.sleep(1.0)  # the exit flush is now waiting for the silent collector (up to 8 s)
        sent = time.monotonic()
        child.send_signal(signum)
        _out, err = finish(child)
        waited = time.monotonic() - sent
    assert (off.returncode, off.stdout, off.stderr) == (3, "done\n", "")
    assert child.returncode == 3, err
    assert stray_stderr(err) == [], err
    assert waited < 5.0  # not the 8 s flush_timeout


# -- item 8: an exporter raising a BaseException -------------------------------------------------

CANCELLING_EXPORTER = """
import asyncio, sys, time
import lazyotel

class Cancelling:
    '''Its first export raises asyncio.CancelledError (a BaseException), then it works.'''

    def __init__(self):
        self.calls, self.names = 0, []

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult
        self.calls += 1
        if self.calls == 1:
            raise asyncio.CancelledError("cancelled inside the exporter")
        self.names.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        with open({report!r}, "w") as report:
            report.write(",".join(self.names))

    def force_flush(self, timeout_millis=30000):
        return True

lazyotel.bootstrap("cancel", exporter=Cancelling(), flush_timeout=5.0)
tracer = lazyotel.get_tracer("cancel")
for name in ("first", "second", "third"):
    with tracer.start_as_current_span(name):
        print(name, flush=True)
    time.sleep(0.5)  # the batch thread exports each span alone (OTEL_BSP_SCHEDULE_DELAY=50)
"""


def test_an_exporter_raising_cancelled_error_does_not_kill_the_batch_thread(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "exported.txt"
    program = CANCELLING_EXPORTER.format(report=str(report))
    env = {**subprocess_env, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    off = run_child(program, {**env, "LAZYOTEL_MODE": "off"})
    on = run_child(program, {**env, "LAZYOTEL_MODE": "on"})
    assert (on.returncode, on.stdout) == (off.returncode, off.stdout) == (0, "first\nsecond\nthird\n")
    assert on.other_stderr == [], on.stderr  # no "Exception in thread OtelBatchSpanRecordProcessor"
    (warning,) = on.warnings
    assert "CancelledError" in warning
    assert report.read_text() == "second,third"  # every span after the failed batch


def test_an_exporter_factory_raising_a_base_exception_turns_telemetry_off(
    subprocess_env: dict[str, str],
) -> None:
    """The factory runs in a helper thread: its CancelledError (or SystemExit) must not reach
    the command as if it were the command's own."""
    program = """
import asyncio
import lazyotel

def factory():
    raise asyncio.CancelledError("no exporter today")

lazyotel.bootstrap("cancel", exporter=factory)

@lazyotel.trace_command
def command():
    print("ran", flush=True)
    return 5

raise SystemExit(command())
"""
    off = run_child(program, {**subprocess_env, "LAZYOTEL_MODE": "off"})
    on = run_child(program, {**subprocess_env, "LAZYOTEL_MODE": "on"})
    assert (on.returncode, on.stdout) == (off.returncode, off.stdout) == (5, "ran\n")
    assert on.other_stderr == [], on.stderr
    (warning,) = on.warnings
    assert "CancelledError" in warning


# -- item 9: fork while another thread activates -----------------------------------------------

FORK_DURING_ACTIVATION = """
import os, sys, threading, time
import lazyotel
import lazyotel._provider

lazyotel._provider.FORK_WAIT = {fork_wait}
building = threading.Event()

class SlowExporter:
    def __init__(self):
        building.set()
        time.sleep(1.0)

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True

lazyotel.bootstrap("fork", exporter=SlowExporter, flush_timeout=1.0)
tracer = lazyotel.get_tracer("fork")

def first_span():
    with tracer.start_as_current_span("in-thread"):
        pass

thread = threading.Thread(target=first_span)
thread.start()
building.wait(10)  # the thread holds the activation lock, waiting for the exporter
pid = os.fork()
if pid == 0:
    with tracer.start_as_current_span("in-child") as span:
        recording = span.is_recording()
    os.write(1, f"child traced={{recording}}\\n".encode())
    os._exit(0)
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    if os.waitpid(pid, os.WNOHANG)[0]:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung", flush=True)
thread.join()
print("parent done", flush=True)
"""


@pytest.mark.parametrize(
    "fork_wait",
    [
        pytest.param(7.0, id="fork-waits-for-activation"),
        pytest.param(0.05, id="child-starts-afresh"),
    ],
)
def test_fork_while_another_thread_activates_does_not_hang_the_child(
    subprocess_env: dict[str, str], fork_wait: float
) -> None:
    child = run_child(
        FORK_DURING_ACTIVATION.format(fork_wait=fork_wait),
        {**subprocess_env, "LAZYOTEL_MODE": "on"},
        python_flags=("-W", "ignore::DeprecationWarning"),  # 3.12+: fork() with threads
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout == "child traced=True\nparent done\n", child.stderr
    assert child.warnings == []


# -- item 15: multiprocessing workers flush their spans ---------------------------------------------

WORKERS = """
import sys
import multiprocessing
import lazyotel

lazyotel.bootstrap("workers", endpoint=sys.argv[2], flush_timeout=5.0)

@lazyotel.trace_command
def work(i):
    return i * 2

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    with lazyotel.get_tracer("workers").start_as_current_span("parent"):
        processes = [ctx.Process(target=work, args=(i,)) for i in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        pool = ctx.Pool(2)
        print(pool.map(work, range(4)), flush=True)
        pool.close()
        pool.join()
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_workers_deliver_their_spans(
    subprocess_env: dict[str, str], tmp_path: Path, method: str
) -> None:
    """Process workers and Pool workers (closed and joined) of every start method."""
    script = tmp_path / "workers.py"
    script.write_text(WORKERS)
    with OTLPReceiver() as receiver:
        proc = subprocess.run(
            [PYTHON, "-W", "ignore::DeprecationWarning", str(script), method, receiver.endpoint],
            env={**subprocess_env, "LAZYOTEL_MODE": "on"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "[0, 2, 4, 6]\n"
        spans = receiver.wait_for(7, timeout=10)
    assert sorted(span.name for span in spans) == ["cli.work"] * 6 + ["parent"]
    assert proc.stderr == ""


# -- item 23: the exit flush where threads cannot start at exit (CPython 3.12.0/3.12.1) --------


def test_the_exit_flush_delivers_on_this_interpreter(subprocess_env: dict[str, str]) -> None:
    """CI runs this on every interpreter (tasks.py): on 3.12.1 the atexit hook may not start
    a thread, so every span was lost with a RuntimeError traceback."""
    with OTLPReceiver() as receiver:
        program = f"""
import threading, time
import lazyotel
lazyotel.bootstrap("exit", endpoint={receiver.endpoint!r}, flush_timeout=5.0)
tracer = lazyotel.get_tracer("exit")
with tracer.start_as_current_span("main"):
    print("done", flush=True)
"""
        child = run_child(program, {**subprocess_env, "LAZYOTEL_MODE": "on"})
        names = [span.name for span in receiver.wait_for(1, timeout=5)]
    assert (child.returncode, child.stdout) == (0, "done\n")
    assert child.other_stderr == [], child.stderr
    assert names == ["main"]


# -- the example's Ctrl-C detach, with Ctrl-C landing inside httpx's own locking ----------------

CTRL_C_INSIDE_HTTPCORE = """
import os, runpy, signal, sys
import httpcore._synchronization as sync

calls = [0]
original = sync.ThreadLock.__exit__

def __exit__(self, *exc):
    calls[0] += 1
    if calls[0] == int(os.environ["CTRL_C_AT"]):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands as httpcore's lock is about to be released
    return original(self, *exc)

sync.ThreadLock.__exit__ = __exit__
sys.argv = ["ktrade", *sys.argv[1:]]
runpy.run_module("examples.ktrade", run_name="__main__")
"""


@pytest.mark.parametrize("ctrl_c_at", [4, 9, 10, 11])
@pytest.mark.parametrize("mode", ["on", "off"])
def test_ktrade_attach_detaches_when_ctrl_c_lands_inside_httpcore(
    subprocess_env: dict[str, str], tmp_path: Path, mode: str, ctrl_c_at: int
) -> None:
    """The cause of test_example's flaky Ctrl-C test: a KeyboardInterrupt raised as httpcore's
    ``ThreadLock.__exit__`` starts leaves the connection pool's lock held, and closing the
    client waited for it forever, with telemetry on or off. The command now stops between polls."""
    for needed in ("httpcore", "typer"):  # the example's own dependencies (not in the CI matrix venvs)
        pytest.importorskip(needed)
    from examples.api_server import ApiServer

    root = Path(__file__).resolve().parent.parent
    runner = tmp_path / "run_ktrade.py"
    runner.write_text(CTRL_C_INSIDE_HTTPCORE)
    with OTLPReceiver() as receiver, ApiServer(otlp_endpoint=receiver.endpoint) as api:
        op = api.backend.start("train", 10_000, {})
        env = {**subprocess_env, "LAZYOTEL_MODE": mode, "CTRL_C_AT": str(ctrl_c_at)}
        args = ["--url", api.url, "--otlp-port", str(receiver.port), "ops", "attach", op["operation_id"]]
        child = subprocess.Popen(
            [PYTHON, str(runner), *args, "--interval", "0.05"],
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out, err = finish(child, timeout=20)
    assert child.returncode == 0, err
    assert f"detached from {op['operation_id']}" in err
    assert op["operation_id"] in out
