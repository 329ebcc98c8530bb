"""CLI-to-CLI traces through ``TRACEPARENT``/``TRACESTATE`` environment variables.

Fresh interpreters only (the patches are process-wide): a traced command starts real child
processes in every supported way and each child prints the ``TRACEPARENT`` it received; the
end-to-end test runs a lazyotel CLI that runs a lazyotel CLI, and reads one trace at the
real receiver.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _child import lazyotel_warnings, run_child

from lazyotel._receiver import OTLPReceiver

TYPER_CLI = Path(__file__).parent / "apps" / "traceapp" / "typer_cli.py"
INHERITED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

PARENT = """
import asyncio, os, subprocess, sys
import lazyotel

lazyotel.bootstrap("parent", exporter="none")
SHOW = [sys.executable, "-c",
        "import os; print('CHILD', os.environ.get('TRACEPARENT'), os.environ.get('TRACESTATE'))"]

def start(how):
    if how == "run":
        subprocess.run(SHOW, check=True)
    elif how == "check_output":
        print(subprocess.check_output(SHOW, text=True), end="")
    elif how == "popen_env_kwarg":
        subprocess.Popen(SHOW, env={**os.environ, "X": "1"}).wait()
    elif how == "popen_env_positional":
        subprocess.Popen(SHOW, -1, None, None, None, None, None, True, False, None, dict(os.environ)).wait()
    elif how == "os_popen":
        print(os.popen(" ".join(["'" + SHOW[0] + "'", "-c", repr(SHOW[2])])).read(), end="")
    elif how == "asyncio":
        async def main():
            proc = await asyncio.create_subprocess_exec(*SHOW)
            await proc.wait()
        asyncio.run(main())
    elif how == "spawnv":
        os.spawnv(os.P_WAIT, SHOW[0], SHOW)
    elif how == "posix_spawn":
        pid = os.posix_spawn(SHOW[0], SHOW, os.environ)
        os.waitpid(pid, 0)
    elif how == "execv":
        sys.stdout.flush()
        os.execv(SHOW[0], SHOW)
    elif how == "explicit":
        subprocess.run(SHOW, env={**os.environ, "TRACEPARENT": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})

@lazyotel.trace_command
def command(how):
    from opentelemetry import trace
    ctx = trace.get_current_span().get_span_context()
    print("SPAN", f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}")
    sys.stdout.flush()
    start(how)

command(sys.argv[1])
"""


def child_lines(env: dict[str, str], how: str) -> tuple[str, list[str]]:
    child = run_child(PARENT, env, how)
    assert child.returncode == 0, child.stderr
    assert lazyotel_warnings(child) == []
    lines = child.stdout.splitlines()
    spans = [line.split()[1] for line in lines if line.startswith("SPAN ")]
    assert len(spans) == 1, child.stdout
    return spans[0], [line for line in lines if line.startswith("CHILD ")]


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"
    return subprocess_env


@pytest.mark.parametrize(
    "how",
    [
        "run",
        "check_output",
        "popen_env_kwarg",
        "popen_env_positional",
        "os_popen",
        "asyncio",
        "spawnv",
        "posix_spawn",
        "execv",
    ],
)
@pytest.mark.parametrize("inherited", [False, True])
def test_a_child_process_gets_the_current_span_as_traceparent(
    on_env: dict[str, str], how: str, inherited: bool
) -> None:
    if inherited:  # the inherited TRACEPARENT is replaced; TRACESTATE goes along the trace
        on_env.update(TRACEPARENT=INHERITED, TRACESTATE="vendor=old")
    span, children = child_lines(on_env, how)
    assert children == [f"CHILD {span} {'vendor=old' if inherited else None}"]
    if inherited:
        assert span.split("-")[1] == INHERITED.split("-")[1]  # the command joined the caller's trace


def test_a_traceparent_the_caller_sets_is_kept(on_env: dict[str, str]) -> None:
    on_env["TRACEPARENT"] = INHERITED
    _span, children = child_lines(on_env, "explicit")
    assert children == [f"CHILD 00-{'1' * 32}-{'2' * 16}-01 None"]


def test_tracestate_is_passed_on(on_env: dict[str, str]) -> None:
    on_env.update(TRACEPARENT=INHERITED, TRACESTATE="vendor=abc,other=1")
    span, children = child_lines(on_env, "run")
    assert children == [f"CHILD {span} vendor=abc,other=1"]


@pytest.mark.parametrize("mode", ["off", "test"])
def test_nothing_is_patched_when_nothing_is_traced(subprocess_env: dict[str, str], mode: str) -> None:
    subprocess_env.update(LAZYOTEL_MODE=mode, TRACEPARENT=INHERITED)
    code = """
import os, subprocess, sys
import lazyotel
original = (subprocess.Popen.__init__, os.execv, os.execve)

@lazyotel.trace_command
def command():
    return subprocess.check_output(
        [sys.executable, "-c", "import os; print(os.environ.get('TRACEPARENT'))"], text=True)

print(command().strip())
print((subprocess.Popen.__init__, os.execv, os.execve) == original)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    child = run_child(code, subprocess_env)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [INHERITED, "True", "[]"]


def test_a_malformed_traceparent_is_ignored(on_env: dict[str, str]) -> None:
    on_env["TRACEPARENT"] = "00-not-a-trace-01"
    span, children = child_lines(on_env, "run")
    assert children == [f"CHILD {span} None"]


def test_cli_running_a_cli_makes_one_trace_at_the_receiver(on_env: dict[str, str]) -> None:
    """The issue's test: typer CLI -> subprocess -> the same CLI, under a caller's TRACEPARENT."""
    on_env.update(TRACE_APP="1", TRACEPARENT=INHERITED)
    with OTLPReceiver() as receiver:
        on_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        proc = subprocess.run(
            [sys.executable, str(TYPER_CLI), "ops", "run", "child"],
            env=on_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["run child", "show CHILD 10"]
        spans = {span.name: span for span in receiver.wait_for(2)}
    run, show = spans["cli.ops.run"], spans["cli.data.show"]
    _version, trace_id, parent_id, _flags = INHERITED.split("-")
    assert run.trace_id == show.trace_id == trace_id
    assert run.parent_span_id == parent_id
    assert show.parent_span_id == run.span_id
    assert run.resource["service.name"] == show.resource["service.name"] == "typer-cli"


# -- bootstrap(subprocess_spans=True): a CLIENT span per child ------------------------------------

CLIENT_PARENT = """
import asyncio, subprocess, sys
import lazyotel

lazyotel.bootstrap("parent", endpoint=sys.argv[1], subprocess_spans=sys.argv[2] == "on")
CHILD = [sys.executable, "-c", "import os, sys; print(os.environ['TRACEPARENT']); sys.exit(int(sys.argv[1]))"]

@lazyotel.trace_command
def command():
    subprocess.run([*CHILD, "3", "--token", "s3cret", "--api-key=k1", "--rows", "5"])
    print(subprocess.check_output([*CHILD, "0"], text=True).strip())
    async def main():
        proc = await asyncio.create_subprocess_exec(*CHILD, "0")
        await proc.wait()
    asyncio.run(main())

command()
"""


def test_subprocess_spans_are_client_spans_with_redacted_args_and_exit_codes(
    on_env: dict[str, str],
) -> None:
    with OTLPReceiver() as receiver:
        child = run_child(CLIENT_PARENT, on_env, receiver.endpoint, "on")
        assert child.returncode == 0, child.stderr
        assert lazyotel_warnings(child) == []
        spans = receiver.wait_for(3)
    command = next(span for span in spans if span.name == "cli.command")
    clients = sorted((span for span in spans if span.kind == "CLIENT"), key=lambda span: span.start_ns)
    assert len(spans) == 3  # asyncio's child gets the context but no span (the loop reaps it)
    failed, ok = clients
    assert failed.parent_span_id == ok.parent_span_id == command.span_id
    assert failed.name == ok.name == Path(sys.executable).name
    assert failed.attributes["process.command_args"][-6:] == [
        "3", "--token", "[REDACTED]", "--api-key=[REDACTED]", "--rows", "5",
    ]  # fmt: skip
    assert failed.attributes["process.exit.code"] == 3
    assert failed.attributes["error.type"] == "3"
    assert failed.status_code == "ERROR"
    assert ok.attributes["process.exit.code"] == 0
    assert ok.status_code == "UNSET"
    assert isinstance(ok.attributes["process.pid"], int)
    # The child's TRACEPARENT names its CLIENT span: the child's own spans hang under it.
    printed = [line for line in child.stdout.splitlines() if line.startswith("00-")]
    assert [line.split("-")[2] for line in printed] == [failed.span_id, ok.span_id, command.span_id]
    assert {line.split("-")[1] for line in printed} == {command.trace_id}


def test_no_client_spans_by_default(on_env: dict[str, str]) -> None:
    with OTLPReceiver() as receiver:
        child = run_child(CLIENT_PARENT, on_env, receiver.endpoint, "off")
        assert child.returncode == 0, child.stderr
        spans = receiver.wait_for(1)
    assert [span.name for span in spans] == ["cli.command"]
    printed = [line for line in child.stdout.splitlines() if line.startswith("00-")]
    assert {line.split("-")[2] for line in printed} == {spans[0].span_id}


def test_the_new_options_cost_nothing_before_a_span(subprocess_env: dict[str, str]) -> None:
    """On mode, a TRACEPARENT inherited: still no import, no patch, no call until a span."""
    subprocess_env.update(LAZYOTEL_MODE="on", TRACEPARENT=INHERITED)
    code = """
import os, subprocess, sys
import typer
before = set(sys.modules)  # typer itself imports inspect and dataclasses
import lazyotel

def boom():
    raise SystemExit("called")

original = (subprocess.Popen.__init__, subprocess.Popen.wait, os.execv, os.posix_spawn)
lazyotel.bootstrap("svc", endpoint=boom, headers=boom, resource_attributes=boom, subprocess_spans=True)
app = typer.Typer()
lazyotel.trace_app(app)

@app.command()
def hello():
    pass

heavy = ("opentelemetry", "wrapt", "asyncio", "importlib.metadata", "inspect", "dataclasses")
print(sorted(m for m in set(sys.modules) - before if m.startswith(heavy)))
print((subprocess.Popen.__init__, subprocess.Popen.wait, os.execv, os.posix_spawn) == original)
"""
    child = run_child(code, subprocess_env, level=None)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["[]", "True"]


def test_reset_undoes_the_patches() -> None:
    """In process: real activation inside a test patches; lazyotel.testing.reset() restores."""
    import os
    import subprocess as sp

    import lazyotel
    import lazyotel.testing

    before = (sp.Popen.__init__, sp.Popen.wait, sp.Popen.poll, os.execv, os.execve, os.posix_spawn)
    lazyotel.bootstrap("svc", exporter="none")

    @lazyotel.trace_command
    def command() -> str:
        return sp.check_output(
            [sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"], text=True
        )

    with lazyotel.testing.enabled():
        assert command().startswith("00-")
    assert sp.Popen.__init__ is not before[0]
    lazyotel.testing.reset()
    assert (sp.Popen.__init__, sp.Popen.wait, sp.Popen.poll, os.execv, os.execve, os.posix_spawn) == before


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["mycli", "--tokenizer", "gpt2", "--max-tokens", "5"],
            ["mycli", "--tokenizer", "gpt2", "--max-tokens", "5"],
        ),
        (
            ["mycli", "--api-key", "k", "DB_PASSWORD=x"],
            ["mycli", "--api-key", "[REDACTED]", "DB_PASSWORD=[REDACTED]"],
        ),
        (["git", "push", "--token=t"], ["git", "push", "--token=[REDACTED]"]),
    ],
)
def test_client_span_arguments_are_redacted_by_the_cli_args_rule(
    argv: list[str], expected: list[str]
) -> None:
    """A child's ``process.command_args`` hide what ``cli.args`` hides (names by words), and only that."""
    from lazyotel import _envcontext

    assert _envcontext.command_args(argv) == expected
