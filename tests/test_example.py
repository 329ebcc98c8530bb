"""The ktrade example: its commands under typer's CliRunner (test mode) and as real processes
with telemetry on, against a real OTLP receiver and the example's traced API server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lazyotel.testing
from examples.api_server import ApiServer
from examples.ktrade.cli import app
from lazyotel import _config
from lazyotel._receiver import OTLPReceiver, ReceivedSpan
from lazyotel.testing import CapturedSpans, assert_no_imports

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# What the CLI's import-time bootstrap() recorded. The suite's conftest resets everything after
# each test; a test here starts from the CLI's configuration, as a test in the CLI's own suite
# would under the lazyotel_spans fixture (which keeps it, see lazyotel.testing.isolated).
CLI_SETTINGS = _config.SETTINGS.copy()


@pytest.fixture(autouse=True)
def _cli_configuration() -> None:
    for name in _config.Settings.__slots__:
        setattr(_config.SETTINGS, name, getattr(CLI_SETTINGS, name))


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as rec:
        yield rec


@pytest.fixture
def api(receiver: OTLPReceiver) -> Iterator[ApiServer]:
    """The example's API, exporting its SERVER spans to ``receiver``."""
    with ApiServer(otlp_endpoint=receiver.endpoint) as server:
        yield server


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return {**subprocess_env, "LAZYOTEL_MODE": "on"}


def python(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ktrade(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return python(env, "-m", "examples.ktrade", *args)


def collector_args(api: ApiServer, receiver: OTLPReceiver) -> list[str]:
    """``--url`` for the API; the collector is on the API's host, at the receiver's port."""
    return ["--url", api.url, "--otlp-port", str(receiver.port)]


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return sorted((s for s in spans if s.parent_span_id == parent.span_id), key=lambda s: s.start_ns)


def status_code(span: ReceivedSpan) -> int:
    """The HTTP status of a client or server span, whichever semantic conventions it uses."""
    return int(span.attributes.get("http.response.status_code", span.attributes.get("http.status_code", 0)))


# -- the app's shape, in process --------------------------------------------------------------


def test_the_app_has_three_groups_and_at_least_twelve_commands() -> None:
    import typer.main

    root = typer.main.get_command(app)
    groups = root.commands  # type: ignore[attr-defined]
    assert sorted(groups) == ["data", "models", "ops"]
    assert sum(len(group.commands) for group in groups.values()) >= 12


HELP_CHILD = """
import json, sys
if sys.argv[1] == "plain":
    from examples.ktrade.plain import install_stand_in
    install_stand_in()
import typer.main
from typer.testing import CliRunner
from examples.ktrade.cli import app

root = typer.main.get_command(app)
screens = [[]] + [[group] for group in sorted(root.commands)]
for group in sorted(root.commands):
    screens += [[group, name] for name in sorted(root.commands[group].commands)]
helps = {" ".join(screen): CliRunner().invoke(app, [*screen, "--help"], prog_name="ktrade",
                                              terminal_width=100).output for screen in screens}
print(json.dumps(helps))
"""


def test_every_help_screen_is_byte_identical_to_the_untraced_app(subprocess_env: dict[str, str]) -> None:
    """trace_app plus the settings-driven bootstrap change no --help screen (no lazyotel: plain)."""
    env = {**subprocess_env, "LAZYOTEL_MODE": "on", "COLUMNS": "100"}
    helps = {}
    for variant in ("plain", "lazyotel"):
        proc = python(env, "-c", HELP_CHILD, variant)
        assert proc.returncode == 0, proc.stderr
        helps[variant] = json.loads(proc.stdout)
    assert helps["lazyotel"] == helps["plain"]
    assert len(helps["plain"]) == 18  # the root, 3 groups, 14 commands
    assert all("Usage: ktrade" in text for text in helps["plain"].values())


def test_trace_app_traces_every_command_but_the_two_decorated_by_hand() -> None:
    from lazyotel._app import is_traced

    traced = {
        f"{group.name}.{info.name}": is_traced(info.callback)
        for group in app.registered_groups
        for info in group.typer_instance.registered_commands
    }
    assert len(traced) == 14
    assert [path for path, yes in traced.items() if not yes] == ["models.train", "ops.follow"]


def test_data_load_prints_the_operation_id(api: ApiServer) -> None:
    result = CliRunner().invoke(app, ["--url", api.url, "data", "load", "EURUSD"])
    assert result.exit_code == 0, result.output
    assert "op_data_load_0001" in result.output


def test_data_export_writes_xml(api: ApiServer, tmp_path: Path) -> None:
    out = tmp_path / "bars.xml"
    result = CliRunner().invoke(
        app, ["--url", api.url, "data", "export", "AAPL", "-o", str(out), "-f", "xml"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().count("<bar ") == 500


def test_a_failing_api_call_exits_1_with_a_message(api: ApiServer) -> None:
    result = CliRunner().invoke(app, ["--url", api.url, "models", "show", "nope"])
    assert result.exit_code == 1
    assert "unknown model nope" in result.output


def test_lazyotel_spans_captures_a_command_in_memory(api: ApiServer, lazyotel_spans: CapturedSpans) -> None:
    result = CliRunner().invoke(app, ["--url", api.url, "data", "load", "GBPUSD", "-t", "1m"])
    assert result.exit_code == 0, result.output
    attributes = lazyotel_spans.attributes("cli.data.load")
    assert attributes["operation.id"] == "op_data_load_0001"
    assert json.loads(attributes["cli.args"])["kwargs"]["timeframe"] == "1m"


def test_isolated_keeps_the_clis_bootstrap_configuration(api: ApiServer) -> None:
    """The CLI module calls bootstrap() once, at import; every test that captures needs it."""
    for _ in range(2):
        with lazyotel.testing.isolated(), lazyotel.testing.capture_spans() as spans:
            CliRunner().invoke(app, ["--url", api.url, "ops", "list"])
        assert sorted(spans.names()) == ["GET", "cli.ops.list"]
        assert spans.get("cli.ops.list").resource.attributes["service.name"] == "ktrade"


CLI_RUNNER_CHILD = """
import json, sys
from typer.testing import CliRunner
import lazyotel
from examples.ktrade.cli import app

url = sys.argv[1]
commands = [["data", "load", "EURUSD"], ["data", "quote", "EURUSD"], ["models", "train", "momentum"],
            ["ops", "follow", "op_train_0002", "-i", "0"], ["data", "show", "MSFT"]]
codes = [CliRunner().invoke(app, ["--url", url, *args]).exit_code for args in commands]
loaded = sorted({m.split(".")[0] for m in sys.modules if m.startswith(("opentelemetry", "wrapt", "grpc"))})
print(json.dumps({"codes": codes, "mode": lazyotel.mode(), "loaded": loaded}))
"""


def test_under_pytest_commands_run_untraced_and_import_no_opentelemetry(
    api: ApiServer, receiver: OTLPReceiver, subprocess_env: dict[str, str]
) -> None:
    """A fresh interpreter that looks like a pytest child (this process has OpenTelemetry loaded)."""
    env = {**subprocess_env, "PYTEST_VERSION": os.environ.get("PYTEST_VERSION", "8")}
    proc = python(env, "-c", CLI_RUNNER_CHILD, api.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"codes": [0] * 5, "mode": "test", "loaded": []}
    # Nothing propagated a trace context: every request the API saw started a trace of its own.
    assert [span.parent_span_id for span in receiver.wait_for(16)] == [None] * 16


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_help_imports_no_opentelemetry_wrapt_or_httpx(mode: str, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "LAZYOTEL_MODE": mode}
    forbid = ["httpx", "opentelemetry", "examples.ktrade.settings"]
    assert_no_imports([PYTHON, "-m", "examples.ktrade", "--help"], forbid=forbid, env=env)


def test_the_console_script_passes_the_doctor(subprocess_env: dict[str, str]) -> None:
    """``examples/bin/ktrade`` is found through its ``#!/usr/bin/env python3`` shebang."""
    env = {**subprocess_env, "PATH": os.pathsep.join([os.path.dirname(PYTHON), subprocess_env["PATH"]])}
    report = assert_no_imports(
        [str(ROOT / "examples" / "bin" / "ktrade"), "--help"], forbid=["httpx", "opentelemetry"], env=env
    )
    assert "typer" in report


# -- real processes, telemetry on ----------------------------------------------------------------


def test_a_command_trace_links_cli_client_and_server_spans(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    proc = ktrade(on_env, *collector_args(api, receiver), "data", "load", "EURUSD", "-t", "1d")
    assert proc.returncode == 0, proc.stderr
    spans = receiver.wait_for(3)
    cli = one(spans, "cli.data.load")
    (client,) = children(spans, cli)
    (server,) = children(spans, client)
    assert cli.parent_span_id is None
    assert {cli.trace_id, client.trace_id, server.trace_id} == {cli.trace_id}
    assert (cli.kind, client.kind, server.kind) == ("INTERNAL", "CLIENT", "SERVER")
    assert (cli.resource["service.name"], server.resource["service.name"]) == ("ktrade", "ktrade-api")
    assert server.name == "POST /api/v1/data/load"
    assert cli.attributes["cli.command"] == "data.load"
    assert json.loads(cli.attributes["cli.args"]) == {
        "args": [],
        "kwargs": {"symbol": "EURUSD", "timeframe": "1d", "start": "2024-01-01", "end": "2024-12-31"},
    }
    assert cli.attributes["operation.id"] == "op_data_load_0001" == server.attributes["operation.id"]
    assert "op_data_load_0001" in proc.stdout


def test_the_retrying_command_traces_every_attempt(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    proc = ktrade(on_env, *collector_args(api, receiver), "data", "quote", "GBPUSD")
    assert proc.returncode == 0, proc.stderr
    spans = receiver.wait_for(7)
    attempts = children(spans, one(spans, "cli.data.quote"))
    assert [status_code(span) for span in attempts] == [503, 503, 200]
    assert [[status_code(s) for s in children(spans, a)] for a in attempts] == [[503], [503], [200]]


def test_the_async_command_span_carries_the_operation_id(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    proc = ktrade(on_env, *collector_args(api, receiver), "models", "train", "meanrev", "--epochs", "3")
    assert proc.returncode == 0, proc.stderr
    spans = receiver.wait_for(3)
    cli = one(spans, "cli.models_train")
    assert cli.attributes["operation.id"] == "op_train_0001"
    assert json.loads(cli.attributes["cli.args"])["kwargs"] == {
        "model": "meanrev",
        "symbol": "EURUSD",
        "epochs": 3,
    }
    assert [span.kind for span in children(spans, cli)] == ["CLIENT"]


def test_the_streaming_command_is_one_span_around_every_poll(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    op = api.backend.start("train", 4, {})
    proc = ktrade(on_env, *collector_args(api, receiver), "ops", "follow", op["operation_id"], "-i", "0.01")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 4
    spans = receiver.wait_for(9)
    follow = one(spans, "cli.ops_follow")
    polls = children(spans, follow)
    assert len(polls) == 4
    assert follow.start_ns <= polls[0].start_ns
    assert polls[-1].end_ns <= follow.end_ns


def test_ctrl_c_detaches_with_exit_0_and_a_successful_span(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    op = api.backend.start("train", 10_000, {})
    child = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "examples.ktrade",
            *collector_args(api, receiver),
            "ops",
            "attach",
            op["operation_id"],
        ],
        env=on_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert op["operation_id"] in child.stdout.readline()  # attached and polling
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert "detached" in err
    attach = one(receiver.wait_for(3), "cli.ops.attach")
    # typer.Exit(0): a clean detach is a success (status UNSET, as the CLI conventions say), not
    # an interrupted command.
    assert attach.status_code == "UNSET"
    assert attach.attributes["process.exit.code"] == 0
    assert "error.type" not in attach.attributes


def test_url_sends_telemetry_to_the_api_hosts_collector_only(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT names one collector; --url moves every span to the other."""
    with OTLPReceiver() as elsewhere:
        env = {**on_env, "OTEL_EXPORTER_OTLP_ENDPOINT": elsewhere.endpoint}
        proc = ktrade(env, *collector_args(api, receiver), "ops", "list")
        assert proc.returncode == 0, proc.stderr
        assert sorted(span.name for span in receiver.wait_for(3)) == [
            "GET",
            "GET /api/v1/operations",
            "cli.ops.list",
        ]
        assert elsewhere.spans == []


RETARGET_CHILD = """
import sys
import lazyotel
from examples.ktrade.cli import app

url, first, second = sys.argv[1:]
app(["--url", url, "--otlp-port", first, "ops", "list"], standalone_mode=False)
lazyotel.flush(10)
app(["--url", url, "--otlp-port", second, "data", "symbols"], standalone_mode=False)
"""


def test_url_retargets_a_running_pipeline(on_env: dict[str, str]) -> None:
    """Two commands in one process: after the switch nothing more reaches the first collector."""
    with OTLPReceiver() as first, OTLPReceiver() as second, ApiServer() as api:
        args = [api.url, str(first.port), str(second.port)]
        proc = python(on_env, "-c", RETARGET_CHILD, *args)
        assert proc.returncode == 0, proc.stderr
        assert sorted(span.name for span in second.wait_for(2)) == ["GET", "cli.data.symbols"]
        assert sorted(span.name for span in first.spans) == ["GET", "cli.ops.list"]
        assert len({span.trace_id for span in first.spans + second.spans}) == 2


def test_the_settings_name_the_collector_and_the_resource(
    api: ApiServer, receiver: OTLPReceiver, on_env: dict[str, str]
) -> None:
    """bootstrap(endpoint=callable, resource_attributes=callable): read when telemetry starts."""
    env = {**on_env, "KTRADE_OTLP_ENDPOINT": receiver.endpoint, "KTRADE_ENV": "staging"}
    with OTLPReceiver() as elsewhere:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = elsewhere.endpoint  # the settings win over it
        proc = python(env, "-c", SETTINGS_CHILD, api.url)
        assert proc.returncode == 0, proc.stderr
        cli = one(receiver.wait_for(3), "cli.ops.list")
        assert elsewhere.spans == []
    assert cli.resource["service.version"] == "2.4.0"
    assert cli.resource["deployment.environment.name"] == "staging"


# The API URL without --url (which would move telemetry to the API host): the State default.
SETTINGS_CHILD = """
import sys
from examples.ktrade import _api
_api.DEFAULT_URL = sys.argv[1]
from examples.ktrade.cli import app
app(["ops", "list"], standalone_mode=False)
"""
