"""A real typer app and a real click app: decorated or not, the same help, parsing and exits.

The apps (tests/apps/commands) print what each command parsed. Every invocation runs through
the framework's ``CliRunner`` against the undecorated app and, with spans captured, against the
decorated one; a selection also runs as a real process, traced with lazyotel in ``on`` mode.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner as ClickRunner
from opentelemetry.trace import StatusCode
from typer.testing import CliRunner as TyperRunner

from lazyotel import testing

APPS = Path(__file__).resolve().parent / "apps" / "commands"
PYTHON = sys.executable


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"demo_{name}", APPS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TYPER = _load("typer_app")
CLICK = _load("click_app")

ENV = {"DEMO_PASSWORD": "hunter2"}

# (arguments, the command span expected, or None when parsing fails before the command runs)
TYPER_CALLS: list[tuple[list[str], str | None]] = [
    (["hello", "ann"], "cli.hello"),
    (["add", "1"], "cli.add"),
    (["add", "1", "--b", "5"], "cli.add"),
    (["add", "1", "5"], None),
    (["add", "x"], None),
    (["greet", "-n", "bob", "--times", "3"], "cli.greet"),
    (["greet"], "cli.greet"),
    (["paint", "--color", "green"], "cli.paint"),
    (["paint", "--color", "blue"], None),
    (["tag", "--tag", "a", "--tag", "b"], "cli.tag"),
    (["tag"], "cli.tag"),
    (["flags", "--verbose", "--force"], "cli.flags"),
    (["flags", "--no-force"], "cli.flags"),
    (["read", "some/file.txt", "--no-missing-ok"], "cli.read"),
    (["read"], None),
    (["ctx-info", "--level", "4"], "cli.ctx_info"),
    (["limit", "--n", "10"], "cli.limit"),
    (["limit", "--n", "11"], None),
    (["maybe", "--label", "x", "--ratio", "0.25"], "cli.maybe"),
    (["maybe"], "cli.maybe"),
    (["point", "--xy", "3", "4"], "cli.point"),
    (["login", "ann", "-vv"], "cli.login"),
    (["login", "ann", "--password", "pw"], "cli.login"),
    (["quit", "0"], "cli.quit_"),
    (["quit", "3"], "cli.quit_"),
    (["boom"], "cli.boom"),
    (["data", "show", "7", "--fmt", "yaml"], "cli.data_show"),
    (["nope"], None),
]

CLICK_CALLS: list[tuple[list[str], str | None]] = [
    (["hello", "ann"], "cli.hello"),
    (["add", "1"], "cli.add"),
    (["add", "1", "5"], "cli.add"),
    (["add", "x"], None),
    (["greet", "-n", "bob", "--times", "3"], "cli.greet"),
    (["greet"], "cli.greet"),
    (["paint", "--color", "green"], "cli.paint"),
    (["paint", "--color", "blue"], None),
    (["tag", "--tag", "a", "--tag", "b"], "cli.tag"),
    (["flags", "--verbose", "--force"], "cli.flags"),
    (["read", "some/file.txt"], "cli.read"),
    (["--env", "prod", "ctx-info", "--level", "4"], "cli.ctx_info"),
    (["limit", "--n", "11"], None),
    (["point", "--xy", "3", "4"], "cli.point"),
    (["login", "ann", "-vv"], "cli.login"),
    (["login"], None),
    (["--env", "qa", "env"], "cli.env_"),
    (["quit", "0"], "cli.quit_"),
    (["quit", "3"], "cli.quit_"),
    (["boom"], "cli.boom"),
]


def _commands(app: Any) -> list[list[str]]:
    """``--help`` for the app and for every command (and subcommand)."""
    import typer.main

    group = typer.main.get_command(app) if not hasattr(app, "commands") else app
    out = [["--help"]]
    for name, command in group.commands.items():
        out.append([name, "--help"])
        for sub in getattr(command, "commands", {}):
            out.append([name, sub, "--help"])
    return out


def _outcome(result: Any) -> tuple[int, str, str]:
    exc = result.exception
    kind = "" if exc is None or isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
    return result.exit_code, result.output, kind


def _compare(runner: Any, module: ModuleType, args: list[str], span_name: str | None) -> None:
    plain = _outcome(runner.invoke(module.build(False), args, env=ENV))
    traced_app = module.build(True)
    with testing.capture_spans() as spans:
        traced = _outcome(runner.invoke(traced_app, args, env=ENV))
    assert traced == plain
    commands = [name for name in spans.names() if name != "cli.cli"]  # the click group callback
    assert commands == ([span_name] if span_name else [])


@pytest.mark.parametrize(
    ("args", "span_name"), TYPER_CALLS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_typer_parses_the_same_decorated(args: list[str], span_name: str | None) -> None:
    _compare(TyperRunner(), TYPER, args, span_name)


@pytest.mark.parametrize(
    ("args", "span_name"), CLICK_CALLS, ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_click_parses_the_same_decorated(args: list[str], span_name: str | None) -> None:
    _compare(ClickRunner(), CLICK, args, span_name)


@pytest.mark.parametrize("args", _commands(TYPER.build(False)), ids=" ".join)
def test_typer_help_is_byte_identical(args: list[str]) -> None:
    runner = TyperRunner()
    plain = runner.invoke(TYPER.build(False), args)
    traced = runner.invoke(TYPER.build(True), args)
    assert plain.exit_code == 0
    assert "Usage" in plain.stdout
    assert traced.stdout_bytes == plain.stdout_bytes


@pytest.mark.parametrize("args", _commands(CLICK.build(False)), ids=" ".join)
def test_click_help_is_byte_identical(args: list[str]) -> None:
    runner = ClickRunner()
    plain = runner.invoke(CLICK.build(False), args)
    traced = runner.invoke(CLICK.build(True), args)
    assert plain.exit_code == 0
    assert "Usage" in plain.stdout
    assert traced.stdout_bytes == plain.stdout_bytes


def test_typer_span_records_parsed_values_without_context_or_secret() -> None:
    with testing.capture_spans() as spans:
        TyperRunner().invoke(TYPER.build(True), ["login", "ann", "-v"], env=ENV)
        TyperRunner().invoke(TYPER.build(True), ["ctx-info", "--level", "2"])
        TyperRunner().invoke(TYPER.build(True), ["quit", "3"])
        TyperRunner().invoke(TYPER.build(True), ["data", "show", "5"])
    login = json.loads(spans.attributes("cli.login")["cli.args"])
    assert login == {"args": [], "kwargs": {"user": "ann", "password": "[REDACTED]", "verbose": 1}}
    ctx_info = json.loads(spans.attributes("cli.ctx_info")["cli.args"])
    assert ctx_info == {"args": [], "kwargs": {"level": 2}}
    quit_span = spans.get("cli.quit_")
    assert quit_span.status.status_code is StatusCode.ERROR
    assert quit_span.attributes["process.exit.code"] == 3
    assert spans.attributes("cli.data_show")["operation.id"] == "op-5"


# -- as real processes ---------------------------------------------------------------------------

PROCESS_CALLS = [
    ("typer_app", ["--help"]),
    ("typer_app", ["greet", "--help"]),
    ("typer_app", ["greet", "-n", "bob", "--times", "2"]),
    ("typer_app", ["paint", "--color", "blue"]),
    ("typer_app", ["quit", "4"]),
    ("typer_app", ["boom"]),
    ("click_app", ["--help"]),
    ("click_app", ["greet", "--help"]),
    ("click_app", ["--env", "prod", "ctx-info", "--level", "2"]),
    ("click_app", ["limit", "--n", "11"]),
    ("click_app", ["quit", "5"]),
    ("click_app", ["boom"]),
]


def _run(app: str, args: list[str], env: dict[str, str], *, decorate: bool, exporter: str = "none") -> Any:
    env = {**env, **ENV, "LAZYOTEL_MODE": "on", "DEMO_EXPORTER": exporter, "COLUMNS": "100"}
    env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # a loaded machine must not lose the exported span
    env["DEMO_DECORATE"] = "1" if decorate else "0"
    return subprocess.run(
        [PYTHON, str(APPS / f"{app}.py"), *args], env=env, capture_output=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    ("app", "args"), PROCESS_CALLS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_process_output_and_exit_code_are_identical(
    subprocess_env: dict[str, str], app: str, args: list[str]
) -> None:
    plain = _run(app, args, subprocess_env, decorate=False)
    traced = _run(app, args, subprocess_env, decorate=True)
    assert (traced.returncode, traced.stdout, traced.stderr.splitlines()[-1:]) == (
        plain.returncode,
        plain.stdout,
        plain.stderr.splitlines()[-1:],
    )
    if args[-1] != "--help" and "boom" not in args:
        assert traced.stderr == plain.stderr


@pytest.mark.parametrize("app", ["typer_app", "click_app"])
def test_process_exports_the_command_span(subprocess_env: dict[str, str], app: str) -> None:
    traced = _run(app, ["quit", "6"], subprocess_env, decorate=True, exporter="console")
    assert traced.returncode == 6
    assert b'"name": "cli.quit_"' in traced.stderr
    assert b'"process.exit.code": 6' in traced.stderr


def test_trace_command_above_click_command_warns_at_decoration() -> None:
    """The wrong order (click registers the undecorated command) is said where it is written."""
    import click

    import lazyotel

    with pytest.warns(
        UserWarning, match=r"received the click command 'show'.*under @click.command"
    ) as caught:

        @lazyotel.trace_command("show")
        @click.command("show")
        def show() -> None: ...

    assert caught[0].filename == __file__  # points at the user's decorator line


def test_trace_command_in_the_right_order_does_not_warn() -> None:
    import warnings

    import click

    import lazyotel

    with warnings.catch_warnings():
        warnings.simplefilter("error")

        @click.command("show")
        @lazyotel.trace_command("show")
        def show() -> None: ...
