"""Off and test mode are inert; nothing but lazyotel's one warning reaches stderr, never a secret.

Issue 9, items 1, 2, 10, 11, 12, 18, 24 and ``LAZYOTEL_LOG``. Every fault runs the same
program in a fresh interpreter twice: with the fault, and with telemetry off and no fault.
stdout and the exit code must be the same; stderr may differ by at most one line, a
``lazyotel`` warning.
"""

from __future__ import annotations

import ast
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _child import Child, child_env, run_child

from lazyotel._receiver import OTLPReceiver, refused_endpoint

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import sys
import lazyotel
{setup}
tracer = lazyotel.get_tracer("modes.demo")

def work(n):
    with tracer.start_as_current_span("work") as span:
        span.set_attribute("n", n)
        span.add_event("step", {{"n": n}})
        return n * n

@lazyotel.trace_command
def main():
    print("total", sum(work(i) for i in range(5)))

main()
{tail}
sys.exit(3)
"""

#: Prints the OpenTelemetry modules the run imported (telemetry off: none).
IMPORTS_TAIL = 'print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))'

FAULT_VARIABLES = ("OTEL_", "LAZYOTEL_", "PYTEST_", "GRPC_")


def clean_env() -> dict[str, str]:
    """The environment of a child Python: no pytest markers, no OTEL_*/LAZYOTEL_*/GRPC_*."""
    return child_env(FAULT_VARIABLES)


def run(setup: str = 'lazyotel.bootstrap("modes-demo")', tail: str = "", **env: str) -> Child:
    level = env.pop("level", "WARNING")
    return run_child(PROGRAM.format(setup=setup, tail=tail), {**clean_env(), **env}, level=level)


def off(tail: str = "", setup: str = 'lazyotel.bootstrap("modes-demo")') -> Child:
    """The reference: the same program with telemetry off and nothing wrong."""
    return run(setup, tail, LAZYOTEL_MODE="off")


def assert_like_off(child: Child, reference: Child, *, warned: bool | None = None) -> list[str]:
    """Same stdout and exit code as ``reference``; stderr: at most one more line, lazyotel's.

    Returns the extra lines. ``warned``: True if the fault must be reported, False if not.
    """
    assert (child.stdout, child.returncode) == (reference.stdout, reference.returncode), child.stderr
    extra = [line for line in child.stderr.splitlines() if line.strip()]
    for line in reference.stderr.splitlines():
        if line in extra:
            extra.remove(line)
    assert len(extra) <= 1, child.stderr
    assert all(line.startswith("LOG WARNING lazyotel: ") for line in extra), child.stderr
    if warned is not None:
        assert len(extra) == int(warned), child.stderr
    return extra


@pytest.fixture(scope="module")
def off_run() -> Child:
    reference = off()
    assert (reference.stdout, reference.returncode, reference.stderr) == ("total 30\n", 3, "")
    return reference


@pytest.fixture(scope="module")
def off_imports() -> Child:
    return off(IMPORTS_TAIL)


def run_on_to_receiver(**env: str) -> tuple[Child, list[str]]:
    """The demo in ``on`` mode, exporting to a receiver of its own: the child and the span names received."""
    with OTLPReceiver() as receiver:
        child = run(
            f'lazyotel.bootstrap("modes-demo", endpoint={receiver.endpoint!r})',
            LAZYOTEL_MODE="on",
            LAZYOTEL_FLUSH_TIMEOUT="20",
            **env,
        )
        return child, receiver.names()


def assert_imported_nothing(child: Child) -> None:
    assert child.stdout == "total 30\n[]\n", child.stderr


#: The ways a run ends up in off or test mode.
INERT = {
    "LAZYOTEL_MODE=off": {"LAZYOTEL_MODE": "off"},
    "LAZYOTEL_MODE=test": {"LAZYOTEL_MODE": "test"},
    "under pytest": {"PYTEST_VERSION": "9.0"},
    "OTEL_SDK_DISABLED=true": {"OTEL_SDK_DISABLED": "true"},
}


# -- items 18 and 1: off and test mode import nothing and read no OpenTelemetry global -------------


@pytest.mark.parametrize("mode", sorted(INERT))
def test_get_tracer_spans_import_nothing_when_telemetry_is_off(mode: str, off_imports: Child) -> None:
    """A command whose body uses ``get_tracer()`` spans imports no OpenTelemetry module."""
    child = run(tail=IMPORTS_TAIL, **INERT[mode])
    assert_imported_nothing(child)
    assert_like_off(child, off_imports, warned=False)


@pytest.mark.parametrize("mode", sorted(INERT))
def test_bogus_tracer_provider_variable_is_inert_when_telemetry_is_off(mode: str, off_imports: Child) -> None:
    """``OTEL_PYTHON_TRACER_PROVIDER=bogus`` crashed the command, even with telemetry off."""
    child = run(tail=IMPORTS_TAIL, OTEL_PYTHON_TRACER_PROVIDER="bogus", **INERT[mode])
    assert_imported_nothing(child)
    assert_like_off(child, off_imports, warned=False)


def test_bogus_tracer_provider_variable_in_on_mode_is_one_warning_and_spans_still_go_out(
    off_run: Child,
) -> None:
    child, names = run_on_to_receiver(OTEL_PYTHON_TRACER_PROVIDER="bogus")
    (warning,) = assert_like_off(child, off_run, warned=True)
    assert "OTEL_PYTHON_TRACER_PROVIDER='bogus'" in warning
    assert sorted(names) == ["cli.main"] + ["work"] * 5


def test_bogus_tracer_provider_variable_does_not_break_capture_spans() -> None:
    code = """
    import lazyotel, lazyotel.testing
    with lazyotel.testing.capture_spans() as spans:
        with lazyotel.get_tracer("t").start_as_current_span("captured"):
            pass
    print(spans.names())
    """
    env = {**clean_env(), "LAZYOTEL_MODE": "test", "OTEL_PYTHON_TRACER_PROVIDER": "bogus"}
    child = run_child(code, env)
    assert (child.stdout, child.stderr, child.returncode) == ("['captured']\n", "", 0)


def test_decorating_with_start_as_current_span_imports_nothing_until_called() -> None:
    """``@tracer.start_as_current_span(...)`` at import time decides nothing: each call does."""
    code = """
    import sys
    import lazyotel
    lazyotel.bootstrap("modes-demo", exporter="none", mode="on")
    tracer = lazyotel.get_tracer("t")

    @tracer.start_as_current_span("sync")
    def sync():
        return "s"

    @tracer.start_as_current_span("async")
    async def coro():
        return "c"

    imported = lambda: any(m.startswith("opentelemetry") for m in sys.modules)
    print(imported())
    import asyncio
    print(sync(), asyncio.run(coro()), imported())
    """
    child = run_child(code, clean_env())
    assert (child.stdout, child.stderr, child.returncode) == ("False\ns c True\n", "", 0)


def test_the_untraced_span_has_the_span_api() -> None:
    """What code written for OpenTelemetry's spans calls works on the no-op span."""
    code = """
    import asyncio, sys
    import lazyotel
    tracer = lazyotel.get_tracer("t")
    span = tracer.start_span("plain")
    span.set_attribute("k", 1); span.set_attributes({"a": 2}); span.add_event("e", {"x": 1})
    span.add_link(None); span.update_name("renamed"); span.set_status(None, "why")
    span.record_exception(ValueError("boom")); span.end()
    with span as same:
        print(same is span, span.is_recording())
    with tracer.start_as_current_span("cm", attributes={"a": 1}) as current:
        print(current.is_recording())

    @tracer.start_as_current_span("deco")
    async def coro(x):
        '''doc'''
        return x * 2

    print(asyncio.iscoroutinefunction(coro), coro.__name__, coro.__doc__, asyncio.run(coro(21)))
    try:
        with tracer.start_as_current_span("raises"):
            raise KeyError("k")
    except KeyError:
        print("re-raised")
    print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    print(span.get_span_context().is_valid)
    """
    child = run_child(code, {**clean_env(), "LAZYOTEL_MODE": "off"})
    expected = "True False\nFalse\nTrue coro doc 42\nre-raised\n[]\nFalse\n"
    assert (child.stdout, child.stderr, child.returncode) == (expected, "", 0)


# -- item 2: the API's import-time log ----------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(INERT))
def test_bogus_context_variable_is_silent_when_telemetry_is_off(mode: str, off_imports: Child) -> None:
    child = run(tail=IMPORTS_TAIL, OTEL_PYTHON_CONTEXT="bogus", **INERT[mode])
    assert_imported_nothing(child)
    assert_like_off(child, off_imports, warned=False)


def test_bogus_context_variable_in_on_mode_is_one_warning_and_spans_still_go_out(off_run: Child) -> None:
    child, names = run_on_to_receiver(OTEL_PYTHON_CONTEXT="bogus")
    (warning,) = assert_like_off(child, off_run, warned=True)
    assert "Failed to load context" in warning
    assert sorted(names) == ["cli.main"] + ["work"] * 5


def test_bogus_context_variable_under_capture_spans_is_one_warning() -> None:
    capture = """
import lazyotel.testing
with lazyotel.testing.capture_spans() as spans:
    work(1)
print(spans.names())
"""
    reference = off(capture)
    assert reference.stdout == "total 30\n['work']\n"
    child = run(tail=capture, LAZYOTEL_MODE="test", OTEL_PYTHON_CONTEXT="bogus")
    assert_like_off(child, reference, warned=True)


# -- item 10: gRPC's native logging -----------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver(protocol="grpc") as running:
        yield running


GRPC_FAULTS = {
    # TLS to a plain port: "Handshake failed with error SSL_ERROR_SSL" from the C core.
    "https-on-a-plain-port": ("https://127.0.0.1:{port}", {}),
    "missing-certificate": (
        "https://127.0.0.1:{port}",
        {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
    ),
    "insecure-bogus": (
        None,
        {"OTEL_EXPORTER_OTLP_INSECURE": "bogus", "OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:{port}"},
    ),
}


@pytest.mark.parametrize("fault", sorted(GRPC_FAULTS))
def test_grpc_native_logging_never_reaches_stderr(
    fault: str, grpc_receiver: OTLPReceiver, off_run: Child
) -> None:
    port = grpc_receiver.endpoint.rsplit(":", 1)[1]
    endpoint, variables = GRPC_FAULTS[fault]
    arguments = f", endpoint={endpoint.format(port=port)!r}" if endpoint else ""
    env = {name: value.format(port=port) for name, value in variables.items()}
    child = run(
        f'lazyotel.bootstrap("modes-demo", protocol="grpc"{arguments})',
        LAZYOTEL_MODE="on",
        LAZYOTEL_FLUSH_TIMEOUT="2",
        **env,
    )
    assert_like_off(child, off_run)


def test_grpc_verbosity_is_not_left_in_the_commands_environment(grpc_receiver: OTLPReceiver) -> None:
    """The command (and its subprocesses) see the environment they would have seen."""
    tail = 'import os; print(os.environ.get("GRPC_VERBOSITY"), "grpc" in sys.modules)'
    reference = off(tail)
    assert reference.stdout == "total 30\nNone False\n"
    child = run(
        f'lazyotel.bootstrap("modes-demo", protocol="grpc", endpoint={grpc_receiver.endpoint!r})',
        tail,
        LAZYOTEL_MODE="on",
    )
    assert child.stdout == "total 30\nNone True\n", child.stderr
    assert child.stderr == ""


# -- items 11 and 12: the transports' loggers, and secrets at every level ------------------------------

SECRET = "S3CR3T"


@pytest.fixture(scope="module")
def bad_headers_port() -> Iterator[int]:
    """An HTTP server whose answers have malformed headers (urllib3: "Failed to parse headers")."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(32)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(1 << 20)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nBad Header Line\r\n: x\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def secret_free(child: Child) -> None:
    """No secret on stderr, and every log line comes from the ``lazyotel`` logger."""
    assert SECRET not in child.stderr, child.stderr
    assert child.other_stderr == [], child.stderr
    foreign = [line for line in child.log if line.split(" ", 2)[1] != "lazyotel:"]
    assert foreign == [], child.stderr


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
def test_urllib3_warning_with_the_query_string_is_funnelled(
    level: str, bad_headers_port: int, off_run: Child
) -> None:
    """urllib3's "Failed to parse headers" (with a traceback and the URL) is lazyotel's to say."""
    endpoint = f"http://user:{SECRET}1@127.0.0.1:{bad_headers_port}/v1/traces?api_key={SECRET}2"
    child = run(
        'lazyotel.bootstrap("modes-demo")',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,  # used as is: the query stays at the end
        LAZYOTEL_MODE="on",
        LAZYOTEL_FLUSH_TIMEOUT="20",
        level=level,
    )
    secret_free(child)
    if level == "WARNING":
        (warning,) = assert_like_off(child, off_run, warned=True)
        assert "Failed to parse headers" in warning
    else:
        assert (child.stdout, child.returncode) == (off_run.stdout, off_run.returncode)
        assert any("urllib3" in line for line in child.log), child.stderr  # details at debug


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
def test_header_value_with_a_trailing_newline_is_never_logged(level: str, off_run: Child) -> None:
    """``headers={"authorization": token_file.read()}``: requests rejects it, quoting it."""
    with OTLPReceiver() as receiver:
        child = run(
            f'lazyotel.bootstrap("modes-demo", endpoint={receiver.endpoint!r}, '
            f'headers={{"authorization": "Bearer {SECRET}\\n"}})',
            LAZYOTEL_MODE="on",
            LAZYOTEL_FLUSH_TIMEOUT="20",
            level=level,
        )
    secret_free(child)
    if level == "WARNING":
        assert_like_off(child, off_run, warned=True)


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
def test_lazyotel_own_messages_are_scrubbed(level: str, off_run: Child) -> None:
    """An exception text that quotes a URL with credentials, a query and a bearer token."""
    setup = f"""
class Exporter:
    def export(self, spans):
        raise RuntimeError("POST https://me:{SECRET}1@host/v1/traces?token={SECRET}2 "
                           "with Authorization: Bearer {SECRET}3 refused")
    def shutdown(self):
        pass
lazyotel.bootstrap("modes-demo", exporter=Exporter())
"""
    child = run(setup, LAZYOTEL_MODE="on", LAZYOTEL_FLUSH_TIMEOUT="20", level=level)
    secret_free(child)
    if level == "WARNING":
        (warning,) = assert_like_off(child, off_run, warned=True)
        assert "https://host/v1/traces?[REDACTED]" in warning


def test_the_commands_own_transport_logs_still_reach_the_application(off_run: Child) -> None:
    """Only records from export threads are funnelled: the command's own urllib3 logs are its own."""
    tail = 'import logging; logging.getLogger("urllib3.connectionpool").warning("the command\'s own")'
    reference = off(tail)
    assert reference.stderr == "LOG WARNING urllib3.connectionpool: the command's own\n"
    with OTLPReceiver() as receiver:
        child = run(
            f'lazyotel.bootstrap("modes-demo", endpoint={receiver.endpoint!r})',
            tail,
            LAZYOTEL_MODE="on",
        )
    assert_like_off(child, reference, warned=False)


# -- LAZYOTEL_LOG ----------------------------------------------------------------------------------------


def test_lazyotel_log_debug_shows_details_without_any_logging_configuration() -> None:
    with OTLPReceiver() as receiver:
        setup = f'lazyotel.bootstrap("modes-demo", endpoint={receiver.endpoint!r})'
        quiet = run(setup, LAZYOTEL_MODE="on", level=None)
        loud = run(setup, LAZYOTEL_MODE="on", LAZYOTEL_LOG="debug", level=None)
    assert (quiet.stdout, quiet.returncode, quiet.stderr) == ("total 30\n", 3, "")
    assert (loud.stdout, loud.returncode) == ("total 30\n", 3)
    lines = loud.stderr.splitlines()
    assert lines, "LAZYOTEL_LOG=debug should print lazyotel's debug lines"
    assert all(line.startswith("lazyotel: ") for line in lines), loud.stderr


def test_lazyotel_log_with_a_bad_value_is_one_warning() -> None:
    with OTLPReceiver() as receiver:
        setup = f'lazyotel.bootstrap("modes-demo", endpoint={receiver.endpoint!r})'
        child = run(setup, LAZYOTEL_MODE="on", LAZYOTEL_LOG="loud", level=None)
    assert (child.stdout, child.returncode) == ("total 30\n", 3)
    assert child.stderr.splitlines() == [
        "lazyotel: LAZYOTEL_LOG='loud' is not one of debug, info, warning, error; ignoring it"
    ]


# -- item 24: the message does not repeat the logger's name --------------------------------------------


def test_warning_names_lazyotel_once_under_a_format_that_prints_the_logger_name() -> None:
    code = f"""
    import logging, sys
    logging.basicConfig(format="%(name)s: %(message)s")
    import lazyotel
    lazyotel.bootstrap("modes-demo", endpoint={refused_endpoint()!r}, mode="on")
    with lazyotel.get_tracer("t").start_as_current_span("s"):
        pass
    lazyotel.flush(20)
    """
    child = run_child(code, clean_env(), level=None)
    assert child.returncode == 0
    (line,) = child.stderr.splitlines()
    assert line.startswith("lazyotel: 1 of 1 spans not delivered: cannot reach the collector"), child.stderr


def test_warning_is_named_when_the_application_configured_no_logging() -> None:
    """logging's last resort prints the bare message: lazyotel's own stand-in names it."""
    code = f"""
    import lazyotel
    lazyotel.bootstrap("modes-demo", endpoint={refused_endpoint()!r}, mode="on")
    with lazyotel.get_tracer("t").start_as_current_span("s"):
        pass
    lazyotel.flush(20)
    """
    child = run_child(code, clean_env(), level=None)
    assert child.returncode == 0
    (line,) = child.stderr.splitlines()
    assert line.startswith("lazyotel: 1 of 1 spans not delivered: cannot reach the collector"), child.stderr


LOG_CALLS = {"warn_once", "debug", "warning", "info", "error", "exception"}


def test_no_message_in_the_package_starts_with_lazyotel() -> None:
    """Every log call's message, read from the source: the logger's name says who speaks."""
    offenders = []
    for path in sorted((ROOT / "lazyotel").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in LOG_CALLS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and first.value.lower().startswith("lazyotel:")
            ):
                offenders.append(f"{path.name}:{node.lineno}: {first.value!r}")
    assert offenders == []
