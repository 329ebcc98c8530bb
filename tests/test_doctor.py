"""``python -m lazyotel doctor`` and its helpers, against real subprocesses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import test_handoff

from lazyotel import _doctor
from lazyotel._doctor import assert_no_imports, check_imports, match_rule, parse_importtime
from lazyotel._receiver import refused_endpoint

spool = test_handoff.spool

APPS = Path(__file__).resolve().parent / "apps" / "doctor"
EAGER = str(APPS / "eager.py")
CLEAN = str(APPS / "clean.py")
PYTHON = sys.executable
API_ONLY = str(APPS / "api_only.py")
EAGER_CHAIN = "doctorapp.eager > doctorapp.telemetry > opentelemetry.sdk.trace"
API_CHAIN = "doctorapp.api_only > doctorapp.api_tracer > opentelemetry.trace"
DEFAULT_RULES = ", ".join(_doctor.DEFAULT_FORBID)


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The conftest's child environment, with the fixture apps importable by ``python -m``."""
    return {**subprocess_env, "PYTHONPATH": os.pathsep.join([str(APPS), subprocess_env["PYTHONPATH"]])}


def doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "lazyotel", "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def script(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# -- the command line ----------------------------------------------------------------------------


def test_forbidden_import_exits_1_and_reports_its_chain(env: dict[str, str]) -> None:
    result = doctor("--", PYTHON, EAGER, env=env)
    assert result.returncode == 1, result.stderr
    assert EAGER_CHAIN in result.stdout
    assert f"lazyotel doctor: forbidden import: {EAGER_CHAIN}" in result.stderr


def test_clean_command_exits_0(env: dict[str, str]) -> None:
    result = doctor("--", PYTHON, CLEAN, env=env)
    assert result.returncode == 0, result.stderr
    assert f"forbidden ({DEFAULT_RULES}): none imported" in result.stdout
    assert "imports  " in result.stdout


def test_forbid_adds_prefix_rules(env: dict[str, str]) -> None:
    result = doctor("--forbid", "json", "--forbid", "doctorapp.common,xml", "--", PYTHON, CLEAN, env=env)
    assert result.returncode == 1, result.stderr
    assert "forbidden import: doctorapp.clean > doctorapp.common\n" in result.stderr


def test_no_default_forbid_drops_the_defaults(env: dict[str, str]) -> None:
    result = doctor("--no-default-forbid", "--", PYTHON, EAGER, env=env)
    assert result.returncode == 0, result.stderr
    assert "forbidden (no rules): none imported" in result.stdout


def test_json_is_one_object_with_the_fields(env: dict[str, str]) -> None:
    result = doctor("--json", "--top", "3", "--", PYTHON, EAGER, "--warn", env=env)
    report = json.loads(result.stdout)
    assert 1 == result.returncode == report["exit_code"]
    assert report["returncode"] == 0
    assert report["total_ms"] > 0
    assert report["modules"] > 20
    assert len(report["top"]) == 3
    assert {"module", "cumulative_ms", "self_ms", "chain"} <= set(report["top"][0])
    found = {f["module"]: f for f in report["forbidden"]}
    assert EAGER_CHAIN.split(" > ") == found["opentelemetry.sdk.trace"]["chain"]
    assert found["opentelemetry.sdk.trace"]["rule"] == "opentelemetry.sdk"
    assert "eager: warning: this is the command's own stderr" in result.stderr  # passed through, not in JSON


def test_top_limits_the_rows(env: dict[str, str]) -> None:
    result = doctor("--top", "2", "--", PYTHON, CLEAN, env=env)
    header = result.stdout.splitlines().index("  cumul ms   self ms  module")
    assert [line for line in result.stdout.splitlines() if "by cumul" in line] == ["top 2 by cumulative time"]
    assert result.stdout.splitlines()[header + 3] == ""  # two rows, then the blank line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no command given: put it after '--'"),
        (("--",), "no command given"),
        (("mycli", "--"), "put the command after '--', e.g. python -m lazyotel doctor -- mycli"),
        (("--top", "-1", "--", "python"), "expected a whole number >= 0"),
        (("--forbid", "a..b", "--", "python"), "'a..b' is not a module name"),
        (("--colour", "--", "python"), "unrecognized arguments: --colour"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = doctor(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_missing_command_exits_3(env: dict[str, str]) -> None:
    result = doctor("--", "lazyotel-no-such-command", "--help", env=env)
    assert result.returncode == 3
    assert "lazyotel doctor: error: command not found: 'lazyotel-no-such-command'" in result.stderr


def test_failing_command_exits_4_with_its_code_and_stderr(env: dict[str, str]) -> None:
    result = doctor("--", PYTHON, CLEAN, "--fail", "3", env=env)
    assert result.returncode == 4
    assert (
        "lazyotel doctor: error: the command exited with code 3\n  | clean: error: something went wrong"
        in (result.stderr)
    )


def test_failing_command_with_a_forbidden_import_exits_1(env: dict[str, str]) -> None:
    """The import did happen, so the verdict is definite; the failure is reported too."""
    result = doctor("--", PYTHON, EAGER, "--fail", "3", env=env)
    assert result.returncode == 1
    assert f"forbidden import: {EAGER_CHAIN}" in result.stderr
    assert "the command exited with code 3" in result.stderr


def test_timeout_exits_4(env: dict[str, str]) -> None:
    result = doctor("--timeout", "0.5", "--", PYTHON, "-c", "import time; time.sleep(60)", env=env)
    assert result.returncode == 4
    assert "did not finish within 0.5 s" in result.stderr


def test_a_command_without_python_imports_exits_5(env: dict[str, str]) -> None:
    result = doctor("--", "true", env=env)
    assert result.returncode == 5
    assert "reported no Python imports" in result.stderr


def test_help_texts(env: dict[str, str]) -> None:
    top = subprocess.run(
        [PYTHON, "-m", "lazyotel", "--help"], env=env, capture_output=True, text=True, check=False
    )
    assert top.returncode == 0
    assert "doctor" in top.stdout
    result = doctor("--help", env=env)
    assert result.returncode == 0
    assert "-- COMMAND [ARG ...]" in result.stdout
    assert "exit codes:" in result.stdout


def test_no_subcommand_exits_2(env: dict[str, str]) -> None:
    result = subprocess.run([PYTHON, "-m", "lazyotel"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "doctor" in result.stderr


def test_lazyotel_bootstrap_and_get_tracer_are_clean(env: dict[str, str]) -> None:
    code = "import lazyotel; lazyotel.bootstrap('x'); lazyotel.get_tracer('y')"
    result = doctor("--", PYTHON, "-c", code, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = assert_no_imports([PYTHON, "-c", code], env=env)
    assert "lazyotel._config" in report


def test_the_doctor_imports_nothing_forbidden(env: dict[str, str]) -> None:
    """The doctor profiling itself: ``-X importtime`` reaches the inner doctor, not its child."""
    result = doctor("--json", "--", PYTHON, "-m", "lazyotel", "doctor", "--", PYTHON, EAGER, env=env)
    report = json.loads(result.stdout)
    assert result.returncode == 4  # the inner doctor found OpenTelemetry in ITS child: exit 1
    assert report["forbidden"] == []
    assert report["returncode"] == 1


def test_keep_env_keeps_pythondontwritebytecode(env: dict[str, str]) -> None:
    code = "import os, sys; sys.exit(3 if 'PYTHONDONTWRITEBYTECODE' in os.environ else 0)"
    env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    assert doctor("--", PYTHON, "-c", code, env=env).returncode == 0
    assert doctor("--keep-env", "--", PYTHON, "-c", code, env=env).returncode == 4


# -- how commands are run ------------------------------------------------------------------------


def test_python_dash_m(env: dict[str, str]) -> None:
    report = check_imports([PYTHON, "-m", "doctorapp.eager"], env=env)
    assert [" > ".join(m.chain) for m in report.forbidden if m.name == "opentelemetry.sdk.trace"] == [
        "doctorapp.telemetry > opentelemetry.sdk.trace"
    ]


def test_console_script_on_path(env: dict[str, str], tmp_path: Path) -> None:
    text = f"#!{PYTHON}\nimport sys\nfrom doctorapp.eager import main\nsys.exit(main())\n"
    script(tmp_path / "bin" / "doctor-eager", text)
    env = {**env, "PATH": os.pathsep.join([str(tmp_path / "bin"), env["PATH"]])}
    report = check_imports(["doctor-eager", "--help"], env=env)
    assert report.argv[1:3] == ["-X", "importtime"]
    assert [" > ".join(m.chain) for m in report.forbidden if m.name == "opentelemetry.sdk.trace"] == [
        EAGER_CHAIN
    ]


def test_pip_long_path_trampoline(env: dict[str, str], tmp_path: Path) -> None:
    text = (
        f"#!/bin/sh\n'''exec' \"{PYTHON}\" \"$0\" \"$@\"\n' '''\nfrom doctorapp.clean import main\nmain()\n"
    )
    report = check_imports([script(tmp_path / "doctor-clean", text)], env=env)
    assert report.argv[:3] == [PYTHON, "-X", "importtime"]
    assert "doctorapp.clean" in report
    assert report.exit_code() == 0


def test_python_children_are_not_profiled(env: dict[str, str]) -> None:
    report = check_imports([PYTHON, CLEAN, "--spawn"], env=env)
    assert report.returncode == 0
    assert report.processes == 1
    assert "subprocess" in report
    assert "xml.dom.minidom" not in report


def test_other_commands_fall_back_to_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    """A shell wrapper gets PYTHONPROFILEIMPORTTIME, which its Python children all inherit."""
    wrapper = script(tmp_path / "wrapper", f'#!/bin/sh\nexec "{PYTHON}" "{CLEAN}" "$@"\n')
    report = check_imports([wrapper, "--spawn"], env=env)
    assert report.profiled_with == _doctor.PROFILE_VAR
    assert report.processes == 2
    assert "xml.dom.minidom" in report


def test_tried_imports_of_missing_packages_are_not_forbidden(env: dict[str, str]) -> None:
    """Python times ``try: import x`` even when x is not installed: that is not an import."""
    report = check_imports([PYTHON, CLEAN, "--optional"], ["doctor_absent_package"], env=env)
    assert "doctor_absent_package" in report
    assert report.forbidden == []
    assert report.not_installed == ["doctor_absent_package"]


def test_pytest_markers_and_dontwritebytecode_are_dropped_by_default(env: dict[str, str]) -> None:
    names = ["PYTEST_VERSION", "PYTEST_CURRENT_TEST", "PYTHONDONTWRITEBYTECODE"]
    code = f"import os; print(sorted(set({names!r}) & set(os.environ)))"
    assert "PYTEST_CURRENT_TEST" in os.environ
    assert check_imports([PYTHON, "-c", code]).stdout == "[]\n"
    assert (
        check_imports([PYTHON, "-c", code], env={**env, "PYTHONDONTWRITEBYTECODE": "1"}).stdout
        == "['PYTHONDONTWRITEBYTECODE']\n"
    )


# -- the helpers ---------------------------------------------------------------------------------


def test_assert_no_imports_raises_with_the_chain(env: dict[str, str]) -> None:
    with pytest.raises(AssertionError, match=f"forbidden import: {EAGER_CHAIN}"):
        assert_no_imports([PYTHON, EAGER], env=env)


def test_assert_no_imports_raises_when_the_command_fails(env: dict[str, str]) -> None:
    with pytest.raises(AssertionError, match="exited with code 3"):
        assert_no_imports([PYTHON, CLEAN, "--fail", "3"], env=env)


def test_assert_no_imports_returns_the_report(env: dict[str, str]) -> None:
    report = assert_no_imports([PYTHON, CLEAN], ["xml"], env=env)
    assert report.total_ms > 0
    assert report.top(1)[0].cumulative_ms == max(m.cumulative_ms for m in report.modules)
    assert len(report.top(5, by="self")) == 5


def test_check_imports_raises_for_a_missing_command() -> None:
    with pytest.raises(_doctor.CommandNotFoundError, match="lazyotel-no-such-command"):
        check_imports(["lazyotel-no-such-command"])


def test_check_imports_rejects_bad_rules() -> None:
    with pytest.raises(ValueError, match="'my pkg' is not a module name"):
        check_imports([PYTHON, "-c", "pass"], ["my pkg"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("foo", "foo"), ("foo.bar", "foo"), ("foobar", None), ("bar.foo", None), ("a.b.c", "a.b")],
)
def test_rules_match_a_module_and_its_submodules(name: str, expected: str | None) -> None:
    assert expected == match_rule(name, ["foo", "a.b"])


SAMPLE = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       200 |        300 | _frozen_importlib_external
a warning the command printed
import time:        10 |         10 |       pkg
import time:        20 |         30 |     pkg.inner
import time:         5 |          5 |     json
import time:        40 |         75 |   app.telemetry
import time:        50 |        125 | app.cli
"""


def test_parse_importtime_rebuilds_the_tree() -> None:
    modules, other, processes = parse_importtime(SAMPLE)
    chains = [" > ".join(m.chain) for m in modules]
    assert chains == [
        "_frozen_importlib_external",
        "_frozen_importlib_external > _io",
        "app.cli",
        "app.cli > app.telemetry",
        "app.cli > app.telemetry > pkg.inner",
        "app.cli > app.telemetry > pkg.inner > pkg",
        "app.cli > app.telemetry > json",
    ]
    assert other == ["a warning the command printed"]
    assert processes == 1
    assert (modules[2].self_ms, modules[2].cumulative_ms) == (0.05, 0.125)


@pytest.mark.parametrize("options", [[], ["--top", "3"], ["--forbid", "pandas"]])
def test_a_forgotten_separator_before_the_commands_help_is_a_usage_error(
    env: dict[str, str], options: list[str]
) -> None:
    """``doctor mycli --help`` must not print the doctor's help and pass a CI guard with 0."""
    result = doctor(*options, PYTHON, "--help", env=env)
    assert result.returncode == 2
    assert "put the command after '--'" in result.stderr


# -- issue 12: the OpenTelemetry API is a note, bytecode stays out of the project ------------------


def test_an_api_import_is_a_note_with_its_chain_and_cost_and_exits_0(env: dict[str, str]) -> None:
    result = doctor("--", PYTHON, API_ONLY, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"forbidden ({DEFAULT_RULES}): none imported" in result.stdout
    notes = result.stdout.split("notes (opentelemetry API", 1)[1].splitlines()[1:2]
    assert notes[0].startswith(f"  {API_CHAIN}   [")
    assert " ms, +" in notes[0]
    assert f"lazyotel doctor: note: {API_CHAIN} imports the OpenTelemetry API (" in result.stderr


def test_the_api_note_is_in_the_json_and_forbid_opentelemetry_makes_it_fatal(env: dict[str, str]) -> None:
    report = json.loads(doctor("--json", "--", PYTHON, API_ONLY, env=env).stdout)
    assert report["exit_code"] == 0
    assert [note["chain"] for note in report["notes"]] == [API_CHAIN.split(" > ")]
    assert report["notes"][0]["cumulative_ms"] > 0
    strict = doctor("--forbid", "opentelemetry", "--", PYTHON, API_ONLY, env=env)
    assert strict.returncode == 1
    assert f"forbidden import: {API_CHAIN}" in strict.stderr


@pytest.mark.parametrize("module", ["opentelemetry.sdk.trace", "wrapt", "opentelemetry.instrumentation"])
def test_the_costly_parts_are_forbidden_by_default(env: dict[str, str], module: str) -> None:
    result = doctor("--", PYTHON, "-c", f"import {module}", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"forbidden import: {module}" in result.stderr


def test_no_bytecode_lands_in_the_project(env: dict[str, str], tmp_path: Path) -> None:
    """The doctor drops PYTHONDONTWRITEBYTECODE; the bytecode goes to its own cache instead."""
    project = tmp_path / "project"
    (project / "mycli").mkdir(parents=True)
    (project / "mycli" / "__init__.py").write_text("")
    (project / "mycli" / "helpers.py").write_text("VALUE = 1\n")
    (project / "mycli" / "main.py").write_text("from mycli import helpers\nprint(helpers.VALUE)\n")
    env = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(project)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    result = doctor("--", PYTHON, "-m", "mycli.main", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in project.rglob("*.pyc")) == []
    line = next(line for line in result.stdout.splitlines() if line.startswith("bytecode written to "))
    prefix = line.split()[3]
    assert "(PYTHONPYCACHEPREFIX), not into the project" in line
    assert list(Path(prefix).rglob("helpers*.pyc")) != []


def test_a_pycache_prefix_of_the_users_own_is_kept(env: dict[str, str], tmp_path: Path) -> None:
    code = "import os; print(os.environ['PYTHONPYCACHEPREFIX'])"
    report = check_imports([PYTHON, "-c", code], env={**env, "PYTHONPYCACHEPREFIX": str(tmp_path)})
    assert report.stdout == f"{tmp_path}\n"
    assert report.pycache_prefix is None


# -- which recorder a run used --------------------------------------------------------------------

RECORDED = """
import lazyotel

lazyotel.bootstrap("doctor-cli")

@lazyotel.trace_command
def main():
    {body}

main()
"""


@pytest.mark.parametrize(
    ("body", "extra", "expected"),
    [
        ("pass", {}, "lazyotel's recorder, without OpenTelemetry"),
        ("import opentelemetry.trace", {}, "lazyotel's recorder, on the OpenTelemetry API"),
        ("pass", {"OTEL_PYTHON_ID_GENERATOR": "random"}, "the OpenTelemetry SDK, in the command"),
        ("pass", {"LAZYOTEL_MODE": "off"}, "none: no span was recorded"),
    ],
)
def test_the_doctor_says_which_recorder_recorded_the_run(
    env: dict[str, str], spool: Path, body: str, extra: dict[str, str], expected: str
) -> None:
    env = {
        **env,
        "LAZYOTEL_DELIVERY": "handoff",
        "LAZYOTEL_SPOOL_DIR": str(spool),
        "OTEL_EXPORTER_OTLP_ENDPOINT": refused_endpoint(),
        **extra,
    }
    code = RECORDED.format(body=body)
    result = doctor("--no-default-forbid", "--", PYTHON, "-c", code, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("recorder ")]
    assert line.startswith(f"recorder {expected}"), result.stdout
    report = json.loads(doctor("--json", "--no-default-forbid", "--", PYTHON, "-c", code, env=env).stdout)
    assert report["recorder"].startswith(expected)


def test_the_doctor_reports_no_recorder_for_a_command_without_lazyotel(env: dict[str, str]) -> None:
    result = doctor("--json", "--", PYTHON, "-c", "import os", env=env)
    assert json.loads(result.stdout)["recorder"] is None
    assert "recorder" not in doctor("--", PYTHON, "-c", "import os", env=env).stdout
