"""``lazyotel.trace_app(app)``: every command of a real typer or click app traced by one call.

The apps (tests/apps/traceapp) register groups and commands before and after the call, one by
hand-decoration, one lazily; they run through CliRunner in-process (spans captured in memory)
and as subprocesses (``--help`` byte-identical, imports, the real receiver).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest
import typer
from click.testing import CliRunner
from typer.testing import CliRunner as TyperRunner

import lazyotel
import lazyotel.testing
from lazyotel._receiver import OTLPReceiver

APPS = Path(__file__).parent / "apps" / "traceapp"


def load_app(name: str, monkeypatch: pytest.MonkeyPatch, traced: bool = True) -> ModuleType:
    """Import a fresh copy of an app module (each test gets its own app objects)."""
    monkeypatch.setenv("TRACE_APP", "1" if traced else "0")
    spec = importlib.util.spec_from_file_location(f"traceapp_{name}_{traced}", APPS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def typer_cli(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    return load_app("typer_cli", monkeypatch).app


@pytest.fixture
def click_cli(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    return load_app("click_cli", monkeypatch).cli


def run_typer(app: typer.Typer, *args: str) -> tuple[int, str, list[str]]:
    with lazyotel.testing.capture_spans() as spans:
        result = TyperRunner().invoke(app, list(args))
    return result.exit_code, result.output, spans.names()


def run_click(cli: click.Group, *args: str) -> tuple[int, str, list[str]]:
    with lazyotel.testing.capture_spans() as spans:
        result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output, spans.names()


@pytest.mark.parametrize(
    ("args", "span"),
    [
        (["data", "show", "EURUSD"], "cli.data.show"),
        (["data", "load", "EURUSD"], "cli.data.load"),
        (["ops", "run", "x"], "cli.ops.run"),  # a sub-app added after trace_app
        (["ops", "deep", "down"], "cli.ops.deep.down"),  # nested two levels, registered later
    ],
)
def test_typer_every_command_gets_a_span_named_after_its_path(
    typer_cli: typer.Typer, args: list[str], span: str
) -> None:
    code, _output, names = run_typer(typer_cli, *args)
    assert code == 0
    assert names == [span]


def test_typer_span_has_the_decorator_attributes(typer_cli: typer.Typer) -> None:
    with lazyotel.testing.capture_spans() as spans:
        result = TyperRunner().invoke(typer_cli, ["data", "show", "GBPUSD", "--rows", "3"])
    assert result.output == "show GBPUSD 3\n"
    attributes = spans.attributes("cli.data.show")
    assert attributes["cli.command"] == "data.show"
    assert json.loads(attributes["cli.args"]) == {"args": [], "kwargs": {"symbol": "GBPUSD", "rows": 3}}
    assert attributes["operation.id"] == "op-GBPUSD"


def test_typer_exit_code_and_options_per_command(typer_cli: typer.Typer) -> None:
    with lazyotel.testing.capture_spans() as spans:
        failed = TyperRunner().invoke(typer_cli, ["data", "fail", "--code", "4"])
        TyperRunner().invoke(typer_cli, ["data", "load", "X", "--token", "t0ken"])
    assert failed.exit_code == 4
    assert spans.get("cli.data.fail").status.status_code.name == "ERROR"
    assert spans.attributes("cli.data.fail")["process.exit.code"] == 4
    load = spans.attributes("cli.data.load")
    assert load["team"] == "quant"
    assert "cli.args" not in load  # capture_args=False for this command only


def test_typer_excluded_and_hand_decorated_commands(typer_cli: typer.Typer) -> None:
    assert run_typer(typer_cli, "ops", "secret") == (0, "secret\n", [])
    # Decorated by hand: one span, under its own name, not a second one from trace_app.
    assert run_typer(typer_cli, "hand") == (0, "hand\n", ["cli.hand_made"])


def test_typer_group_callback_runs_outside_the_span(typer_cli: typer.Typer) -> None:
    code, _output, names = run_typer(typer_cli, "--url", "http://127.0.0.1:9", "data", "show", "X")
    assert (code, names) == (0, ["cli.data.show"])


@pytest.mark.parametrize(
    ("args", "span"),
    [
        (["data", "show", "EURUSD"], "cli.data.show"),
        (["later"], "cli.later"),  # @cli.command() after trace_app
        (["data", "direct"], "cli.data.direct"),  # put into group.commands by hand, later
        (["lazy", "build", "--fast"], "cli.lazy.build"),  # a lazy group's get_command
    ],
)
def test_click_every_command_gets_a_span_named_after_its_path(
    click_cli: click.Group, args: list[str], span: str
) -> None:
    code, _output, names = run_click(click_cli, *args)
    assert code == 0
    assert names == [span]


def test_click_context_left_out_and_secret_redacted(click_cli: click.Group) -> None:
    with lazyotel.testing.capture_spans() as spans:
        result = CliRunner().invoke(click_cli, ["data", "show", "X", "--password", "hunter2"])
    assert result.output == "show X\n"
    args = json.loads(spans.attributes("cli.data.show")["cli.args"])
    assert args == {"args": [], "kwargs": {"symbol": "X", "password": "[REDACTED]"}}


def test_a_single_click_command_is_traced_by_its_name() -> None:
    @click.command("solo")
    @click.argument("n", type=int)
    def solo(n: int) -> None:
        click.echo(str(n * 2))

    assert lazyotel.trace_app(solo) is solo
    assert run_click(solo, "21") == (0, "42\n", ["cli.solo"])  # type: ignore[arg-type]


def test_tracing_twice_makes_one_span(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app("typer_cli", monkeypatch).app
    lazyotel.trace_app(app)
    assert run_typer(app, "data", "show", "X")[2] == ["cli.data.show"]


def test_untraced_in_test_mode_without_capture(typer_cli: typer.Typer) -> None:
    """Under pytest the commands run untraced: nothing activates."""
    from lazyotel._provider import RUNTIME

    result = TyperRunner().invoke(typer_cli, ["data", "show", "X"])
    assert result.exit_code == 0
    assert not RUNTIME.activated


def test_bad_arguments_fail_fast() -> None:
    with pytest.raises(TypeError, match=r"expected a typer.Typer, click.Group or click.Command"):
        lazyotel.trace_app(object())
    app = typer.Typer()
    with pytest.raises(TypeError, match=r"unknown option 'name'"):
        lazyotel.trace_app(app, options={"data.show": {"name": "x"}})
    with pytest.raises(TypeError, match=r"capture_args"):
        lazyotel.trace_app(app, options={"data.show": {"capture_args": "yes"}})
    with pytest.raises(TypeError, match=r"command path"):
        lazyotel.trace_app(app, exclude=[""])


# -- fresh interpreters: --help, imports, the real receiver ----------------------------------------

HELP_SCREENS = {
    "typer_cli": [[], ["--help"], ["data", "--help"], ["data", "show", "--help"], ["ops", "deep", "--help"]],
    "click_cli": [["--help"], ["data", "--help"], ["data", "show", "--help"], ["lazy", "--help"]],
}


def run_app(
    name: str, args: list[str], env: dict[str, str], traced: bool
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(APPS / f"{name}.py"), *args],
        env={**env, "TRACE_APP": "1" if traced else "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(HELP_SCREENS))
def test_help_is_byte_identical(subprocess_env: dict[str, str], name: str) -> None:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["COLUMNS"] = "100"
    for args in HELP_SCREENS[name]:
        plain = run_app(name, args, subprocess_env, traced=False)
        traced = run_app(name, args, subprocess_env, traced=True)
        assert (traced.returncode, traced.stdout) == (plain.returncode, plain.stdout)
        assert traced.stderr == plain.stderr
        assert "Usage" in plain.stdout + plain.stderr


@pytest.mark.parametrize("name", sorted(HELP_SCREENS))
def test_trace_app_and_help_import_nothing(subprocess_env: dict[str, str], name: str) -> None:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    code = f"""
import runpy, sys
sys.argv = [{str(APPS / (name + ".py"))!r}, "data", "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "wrapt", "asyncio")))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**subprocess_env, "TRACE_APP": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_spans_reach_the_real_receiver(subprocess_env: dict[str, str]) -> None:
    subprocess_env.update(LAZYOTEL_MODE="on", LAZYOTEL_FLUSH_TIMEOUT="20")
    with OTLPReceiver() as receiver:
        subprocess_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        proc = run_app("click_cli", ["lazy", "build"], subprocess_env, traced=True)
        assert proc.returncode == 0, proc.stderr
        proc = run_app("typer_cli", ["ops", "deep", "down", "--level", "2"], subprocess_env, traced=True)
        assert proc.returncode == 0, proc.stderr
        spans = receiver.wait_for(2)
    assert sorted(span.name for span in spans) == ["cli.lazy.build", "cli.ops.deep.down"]
    down = next(span for span in spans if span.name == "cli.ops.deep.down")
    assert down.resource["service.name"] == "typer-cli"
    assert json.loads(down.attributes["cli.args"]) == {"args": [], "kwargs": {"level": 2}}


def test_typer_unnamed_sub_app_is_merged_into_its_parent_path() -> None:
    """typer merges the commands of ``add_typer(sub)`` without a name into the parent group."""
    app, sub = typer.Typer(), typer.Typer()

    @app.callback()
    def root() -> None:
        """Root."""

    @sub.command("merged")
    def merged() -> None:
        typer.echo("merged")

    app.add_typer(sub)
    lazyotel.trace_app(app)
    assert run_typer(app, "merged") == (0, "merged\n", ["cli.merged"])


def test_typer_group_named_by_its_instance() -> None:
    """``typer.Typer(name=...)`` names the group when ``add_typer`` does not (even added later)."""
    app, sub = typer.Typer(), typer.Typer(name="inst")
    lazyotel.trace_app(app)

    @app.callback()
    def root() -> None:
        """Root."""

    @sub.command("one")
    def one() -> None:
        pass

    app.add_typer(sub)
    assert run_typer(app, "inst", "one")[2] == ["cli.inst.one"]
