"""The command span's meaning, as the OpenTelemetry semantic conventions for CLI programs say.

Status UNSET on success (OK only with ``bootstrap(ok_status=True)``), ERROR when the exit code
is not 0 or an exception escapes; ``process.executable.name``, ``process.pid``,
``process.exit.code``, ``error.type`` and ``process.command_args`` (redacted and capped); one
instrumentation scope for every command with ``bootstrap(tracer_name=...)``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import click
import pytest
import typer
from _child import run_child
from opentelemetry.trace import StatusCode

import lazyotel
from lazyotel import testing, trace_command
from lazyotel._capture import REDACTED, TOTAL_CAP, VALUE_CAP
from lazyotel._receiver import OTLPReceiver
from lazyotel.testing import CapturedSpans

LINUX_EXE = sys.platform.startswith("linux") and os.path.exists("/proc/self/exe")


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    with testing.capture_spans() as captured:
        yield captured


def _executable() -> str:
    return os.path.basename(os.readlink("/proc/self/exe") if LINUX_EXE else sys.executable)


# -- success --------------------------------------------------------------------------------------


def test_a_normal_return_is_a_success_with_exit_code_0_and_status_unset(spans: CapturedSpans) -> None:
    @trace_command
    def show(item: str) -> str:
        return item

    assert show("a") == "a"
    span = spans.get("cli.show")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["process.exit.code"] == 0
    assert span.attributes["process.pid"] == os.getpid()
    assert span.attributes["process.executable.name"] == _executable()
    assert "error.type" not in span.attributes
    assert span.attributes["cli.command"] == "show"  # kept for existing dashboards


def test_every_kind_of_callable_records_its_success(spans: CapturedSpans) -> None:
    @trace_command
    def gen() -> Iterator[int]:
        yield 1

    @trace_command
    def mapping() -> dict[str, str]:
        return {"operation_id": "op-1"}

    assert list(gen()) == [1]
    assert mapping() == {"operation_id": "op-1"}
    assert spans.get("cli.gen").attributes["process.exit.code"] == 0
    assert spans.get("cli.mapping").attributes["process.exit.code"] == 0
    assert spans.get("cli.mapping").attributes["operation.id"] == "op-1"


def test_ok_status_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"bootstrap\(ok_status='yes'\): expected True or False"):
        lazyotel.bootstrap(ok_status="yes")  # type: ignore[arg-type]
    assert lazyotel._config.SETTINGS.ok_status is False


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (ValueError("bad"), "ValueError"),
        (click.BadParameter("no such item"), "click.exceptions.BadParameter"),
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (typer.Abort(), f"{type(typer.Abort()).__module__}.Abort"),
    ],
    ids=repr,
)
def test_an_exception_is_an_error_with_its_qualified_type_name(
    spans: CapturedSpans, error: BaseException, error_type: str
) -> None:
    @trace_command
    def broken() -> None:
        raise error

    with pytest.raises(type(error)):
        broken()
    span = spans.get("cli.broken")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    # Whoever catches the exception decides the process's exit code: none is claimed.
    assert "process.exit.code" not in span.attributes


def test_a_local_class_error_type_is_its_qualified_name(spans: CapturedSpans) -> None:
    class Refused(Exception):
        pass

    @trace_command
    def broken() -> None:
        raise Refused

    with pytest.raises(Refused):
        broken()
    assert spans.get("cli.broken").attributes["error.type"] == f"{__name__}.{Refused.__qualname__}"


# -- process.command_args ------------------------------------------------------------------------


def test_command_args_are_sys_argv_redacted(spans: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        sys, "argv", ["ktrade", "--password", "hunter2", "data", "show", "--api-key=k1", "AAPL", "-v"]
    )

    @trace_command
    def show() -> None:
        pass

    show()
    assert list(spans.get("cli.show").attributes["process.command_args"]) == [
        "ktrade",
        "--password",
        REDACTED,
        "data",
        "show",
        f"--api-key={REDACTED}",
        "AAPL",
        "-v",
    ]


def test_command_args_are_capped_like_cli_args(spans: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["tool", "x" * 1000, *["y" * 200] * 100])

    @trace_command
    def run() -> None:
        pass

    run()
    argv = list(spans.get("cli.run").attributes["process.command_args"])
    assert argv[0] == "tool"
    assert argv[1] == "x" * VALUE_CAP + "...[truncated: 1000 chars]"
    assert argv[-1].startswith("...[truncated: ")
    assert argv[-1].endswith(" more args]")
    assert sum(len(item.encode()) for item in argv) <= TOTAL_CAP


def test_command_args_follow_the_redact_patterns_in_force(
    spans: CapturedSpans, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["tool", "--pin", "1234", "--password", "visible now"])

    @trace_command
    def run() -> None:
        pass

    run()
    lazyotel.bootstrap(redact=["pin"])
    run()
    first, second = (list(span.attributes["process.command_args"]) for span in spans.by_name("cli.run"))
    assert first == ["tool", "--pin", "1234", "--password", REDACTED]
    assert second == ["tool", "--pin", REDACTED, "--password", "visible now"]


@pytest.mark.parametrize("capture", [False, lambda name, value: True], ids=["off", "filter"])
def test_command_args_are_left_out_unless_capture_args_is_true(
    spans: CapturedSpans, monkeypatch: pytest.MonkeyPatch, capture: object
) -> None:
    """Capture off means no arguments; a filter could not see argv, so argv stays out too."""
    monkeypatch.setattr(sys, "argv", ["tool", "--name", "ann"])

    @trace_command(capture_args=capture)  # type: ignore[arg-type]
    def run(name: str) -> None:
        pass

    run("ann")
    attributes = spans.get("cli.run").attributes
    assert "process.command_args" not in attributes
    assert attributes["process.pid"] == os.getpid()


# -- one instrumentation scope ---------------------------------------------------------------------


def test_each_command_has_its_module_as_scope_by_default(spans: CapturedSpans) -> None:
    @trace_command
    def show() -> None:
        pass

    show()
    assert spans.get("cli.show").instrumentation_scope.name == __name__


def test_tracer_name_gives_every_command_one_scope(spans: CapturedSpans) -> None:
    @trace_command
    def show() -> None:
        pass

    show()
    lazyotel.bootstrap(tracer_name="ktrade")
    show()
    lazyotel.bootstrap()
    show()
    scopes = [span.instrumentation_scope.name for span in spans.by_name("cli.show")]
    assert scopes == [__name__, "ktrade", __name__]


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ("", ValueError, ["tracer_name=''", "must not be empty"]),
        ("  ", ValueError, ["tracer_name='  '", "must not be empty"]),
        (3, TypeError, ["tracer_name=3", "a string or None"]),
    ],
)
def test_tracer_name_is_validated(value: object, error: type[Exception], words: list[str]) -> None:
    with pytest.raises(error) as info:
        lazyotel.bootstrap(tracer_name=value)  # type: ignore[arg-type]
    for word in words:
        assert word in str(info.value)
    assert lazyotel._config.SETTINGS.tracer_name is None


# -- a real typer CLI, exported to a real receiver -----------------------------------------------

CLI = """
import sys, typer, lazyotel

endpoint, ok_status, scope = sys.argv.pop(1), sys.argv.pop(1) == "ok", sys.argv.pop(1) or None
lazyotel.bootstrap("demo", endpoint=endpoint, ok_status=ok_status, tracer_name=scope)
app = typer.Typer()

@app.command()
@lazyotel.trace_command
def login(user: str, password: str = typer.Option(...), fail: int = 0) -> None:
    print("hello", user)
    if fail:
        raise typer.Exit(fail)

app()
"""


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # a loaded machine must not lose the span
    return subprocess_env


def test_a_typer_cli_exports_the_conventions(receiver: OTLPReceiver, on_env: dict[str, str]) -> None:
    ok = run_child(CLI, on_env, receiver.endpoint, "unset", "", "ann", "--password", "hunter2")
    failed = run_child(CLI, on_env, receiver.endpoint, "unset", "", "bob", "--password", "pw", "--fail", "3")
    assert (ok.returncode, ok.stdout, failed.returncode) == (0, "hello ann\n", 3), ok.stderr + failed.stderr
    first, second = sorted(receiver.wait_for(2), key=lambda span: span.attributes["cli.args"])
    assert first.status_code == "UNSET"
    assert first.attributes["process.exit.code"] == 0
    assert "error.type" not in first.attributes
    assert first.attributes["process.command_args"] == ["-c", "ann", "--password", REDACTED]
    assert json.loads(first.attributes["cli.args"])["kwargs"]["password"] == REDACTED
    assert first.attributes["process.executable.name"] == _executable()
    assert isinstance(first.attributes["process.pid"], int)
    assert first.attributes["process.pid"] != second.attributes["process.pid"]
    assert first.scope == "__main__"
    assert (second.status_code, second.status_message) == ("ERROR", "exit code 3")
    assert second.attributes["process.exit.code"] == 3
    assert second.attributes["error.type"] == "3"


def test_a_typer_cli_keeps_ok_and_one_scope_when_asked(
    receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    child = run_child(CLI, on_env, receiver.endpoint, "ok", "ktrade", "ann", "--password", "hunter2")
    assert child.returncode == 0, child.stderr
    (span,) = receiver.wait_for(1)
    assert span.status_code == "OK"
    assert span.scope == "ktrade"
    assert span.attributes["process.exit.code"] == 0
