"""Never block, never hang: a bounded exit, bounded flush/shutdown, span end off the network.

Timings are upper bounds with a generous margin (the machine is shared), never speed goals:
those live in benchmarks/bench_core.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from _child import lazyotel_warnings, run_child

from lazyotel._receiver import OTLPReceiver, refused_endpoint

MARGIN = 3.0

PROGRAM = """
import sys
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={endpoint!r}, protocol={protocol!r}, flush_timeout={flush_timeout!r})
tracer = lazyotel.get_tracer("exit.demo")
with tracer.start_as_current_span("command"):
    print("done")
stamp()
sys.exit(3)
"""


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    return subprocess_env


@pytest.fixture(params=["http/protobuf", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def silent(protocol: str) -> Iterator[OTLPReceiver]:
    with OTLPReceiver(protocol=protocol, behaviour="silent") as receiver:
        yield receiver


@pytest.mark.parametrize("flush_timeout", [0.2, 1.0])
def test_exit_with_a_refusing_collector_is_bounded_and_keeps_the_exit_code(
    on_env: dict[str, str], protocol: str, flush_timeout: float
) -> None:
    code = PROGRAM.format(endpoint=refused_endpoint(), protocol=protocol, flush_timeout=flush_timeout)
    child = run_child(code, on_env)
    assert (child.returncode, child.stdout) == (3, "done\n"), child.stderr
    assert child.exit_seconds < flush_timeout + MARGIN
    # One warning, or none when the deadline came before the exporter was even built.
    assert len(lazyotel_warnings(child)) <= 1
    assert child.other_stderr == []


@pytest.mark.parametrize("flush_timeout", [0.2, 1.0])
def test_exit_with_a_silent_collector_is_bounded_and_keeps_the_exit_code(
    on_env: dict[str, str], protocol: str, silent: OTLPReceiver, flush_timeout: float
) -> None:
    code = PROGRAM.format(endpoint=silent.endpoint, protocol=protocol, flush_timeout=flush_timeout)
    child = run_child(code, on_env)
    assert (child.returncode, child.stdout) == (3, "done\n"), child.stderr
    assert child.exit_seconds < flush_timeout + MARGIN
    assert len(lazyotel_warnings(child)) <= 1
    assert child.other_stderr == []


@pytest.mark.parametrize(
    ("ending", "code", "last_stderr_line"),
    [
        ('raise ValueError("boom")', 1, "ValueError: boom"),
        ('raise SystemExit("fatal: no such project")', 1, "fatal: no such project"),
        ("raise SystemExit(0)", 0, None),
        ("raise SystemExit(None)", 0, None),
        ("raise KeyboardInterrupt", -2, "KeyboardInterrupt"),
    ],
)
def test_the_programs_own_exception_and_exit_code_survive_a_silent_collector(
    on_env: dict[str, str], ending: str, code: int, last_stderr_line: str | None
) -> None:
    with OTLPReceiver(behaviour="silent") as hung:
        program = f"""
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={hung.endpoint!r}, flush_timeout=0.5)
with lazyotel.get_tracer("exit.demo").start_as_current_span("command"):
    print("working")
    stamp()
    {ending}
"""
        child = run_child(program, on_env)
    assert (child.returncode, child.stdout) == (code, "working\n"), child.stderr
    lines = [line for line in child.stderr.splitlines() if not line.startswith(("LOG ", "EXIT-STAMP"))]
    if last_stderr_line is None:
        assert lines == []
    else:
        assert lines[-1] == last_stderr_line
    assert child.exit_seconds < 0.5 + MARGIN


def test_lazyotel_flush_timeout_overrides_the_argument_at_exit(
    on_env: dict[str, str], protocol: str, silent: OTLPReceiver
) -> None:
    """``flush_timeout=60`` in code, ``LAZYOTEL_FLUSH_TIMEOUT=0.3`` from the operator: 0.3 wins."""
    on_env["LAZYOTEL_FLUSH_TIMEOUT"] = "0.3"
    child = run_child(PROGRAM.format(endpoint=silent.endpoint, protocol=protocol, flush_timeout=60.0), on_env)
    assert (child.returncode, child.stdout) == (3, "done\n"), child.stderr
    assert child.exit_seconds < 0.3 + MARGIN


def test_malformed_lazyotel_flush_timeout_falls_back_to_the_argument(on_env: dict[str, str]) -> None:
    on_env["LAZYOTEL_FLUSH_TIMEOUT"] = "soon"
    with OTLPReceiver(behaviour="silent") as hung:
        child = run_child(
            PROGRAM.format(endpoint=hung.endpoint, protocol="http/protobuf", flush_timeout=0.3), on_env
        )
    assert (child.returncode, child.stdout) == (3, "done\n"), child.stderr
    assert child.exit_seconds < 0.3 + MARGIN
    (warning,) = lazyotel_warnings(child)
    assert "LAZYOTEL_FLUSH_TIMEOUT='soon'" in warning


FLUSH_SHUTDOWN = """
import json, time
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={endpoint!r}, protocol={protocol!r}, flush_timeout=30.0)
with lazyotel.get_tracer("exit.demo").start_as_current_span("command"):
    pass
result = {{}}
started = time.monotonic()
result["flush"] = lazyotel.flush({timeout})
result["flush_seconds"] = time.monotonic() - started
started = time.monotonic()
result["shutdown"] = lazyotel.shutdown({timeout})
result["shutdown_seconds"] = time.monotonic() - started
print(json.dumps(result))
stamp()
"""


def test_flush_and_shutdown_honour_their_timeout_with_a_silent_collector(
    on_env: dict[str, str], protocol: str, silent: OTLPReceiver
) -> None:
    code = FLUSH_SHUTDOWN.format(endpoint=silent.endpoint, protocol=protocol, timeout=0.3)
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert (result["flush"], result["shutdown"]) == (False, False)
    assert result["flush_seconds"] < 0.3 + MARGIN
    assert result["shutdown_seconds"] < 0.3 + MARGIN
    # shutdown() already ran: the exit does not wait the 30 s flush_timeout again.
    assert child.exit_seconds < MARGIN


def test_flush_delivers_before_it_returns_and_shutdown_stops_tracing(
    on_env: dict[str, str], protocol: str
) -> None:
    with OTLPReceiver(protocol=protocol) as receiver:
        code = f"""
import os
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={receiver.endpoint!r}, protocol={protocol!r})
tracer = lazyotel.get_tracer("exit.demo")
with tracer.start_as_current_span("before-flush"):
    pass
print(lazyotel.flush(10.0), flush=True)
print(lazyotel.shutdown(10.0), lazyotel.shutdown(10.0), flush=True)
with tracer.start_as_current_span("after-shutdown"):
    pass
print(lazyotel.flush(1.0), flush=True)
os._exit(0)  # no atexit: whatever arrived was sent by flush() and shutdown()
"""
        child = run_child(code, on_env)
        names = receiver.names()
    assert (child.returncode, child.stdout) == (0, "True\nTrue True\nTrue\n"), child.stderr
    assert names == ["before-flush"]


@pytest.mark.parametrize("timeout", [-1, "1", True])
def test_flush_and_shutdown_reject_a_bad_timeout(timeout: object) -> None:
    import lazyotel

    with pytest.raises(ValueError, match="timeout="):
        lazyotel.flush(timeout)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout="):
        lazyotel.shutdown(timeout)  # type: ignore[arg-type]


def test_span_end_never_waits_on_the_network(
    on_env: dict[str, str], protocol: str, silent: OTLPReceiver
) -> None:
    """2,000 spans (several full batches) end while every export hangs on a silent collector."""
    code = f"""
import time
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={silent.endpoint!r}, protocol={protocol!r}, flush_timeout=0.2)
tracer = lazyotel.get_tracer("exit.demo")
with tracer.start_as_current_span("warm-up"):
    pass
time.sleep(0.5)  # the exporter is built and the first export is hanging
started = time.monotonic()
for i in range(2000):
    with tracer.start_as_current_span("s"):
        pass
print(round(time.monotonic() - started, 3))
"""
    child = run_child(code, on_env)
    assert child.returncode == 0, child.stderr
    assert float(child.stdout) < MARGIN  # SimpleSpanProcessor would block ~10 s per span


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("refused", "WARNING lazyotel: 20 of 20 spans not delivered: cannot reach the collector at http"),
        ("ok", "DEBUG lazyotel: all 20 spans exported"),
    ],
)
def test_dropped_spans_are_counted_and_reported_once(
    on_env: dict[str, str], behaviour: str, expected: str
) -> None:
    with OTLPReceiver() as receiver:
        endpoint = receiver.endpoint if behaviour == "ok" else refused_endpoint()
        on_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # every span must reach an end, however loaded the box
        code = f"""
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={endpoint!r})
tracer = lazyotel.get_tracer("exit.demo")
for i in range(20):
    with tracer.start_as_current_span("s"):
        pass
"""
        child = run_child(code, on_env, level="DEBUG")
    assert child.returncode == 0, child.stderr
    assert [line for line in child.log if line.startswith(expected)] != [], child.stderr
    assert len(child.warnings) == int(behaviour == "refused"), child.stderr


@pytest.mark.parametrize("collector", ["refused", "silent", "ok"])
def test_ctrl_c_still_exits_by_sigint(on_env: dict[str, str], protocol: str, collector: str) -> None:
    """CPython exits by SIGINT after an unhandled KeyboardInterrupt; the exit flush (and any
    import it makes while the interpreter exits) must not turn that into exit status 1."""
    with OTLPReceiver(protocol=protocol, behaviour="silent" if collector == "silent" else "ok") as receiver:
        endpoint = refused_endpoint() if collector == "refused" else receiver.endpoint
        program = f"""
import lazyotel
lazyotel.bootstrap("exit-demo", endpoint={endpoint!r}, protocol={protocol!r}, flush_timeout=0.5)
with lazyotel.get_tracer("exit.demo").start_as_current_span("command"):
    raise KeyboardInterrupt
"""
        child = run_child(program, on_env)
    assert child.returncode == -2, child.stderr
    assert child.other_stderr[-1] == "KeyboardInterrupt"
