"""The pytest plugin, run for real with pytester.

In-process (``runpytest_inprocess``) unless the test is about a fresh process: what loading the
plugin imports, that nothing is printed, loading it by name with autoload off (in-process, the
module is imported already), threads left at the end of a session, xdist workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    # The generated projects' own settings: strict, and every warning an error.
    pytester.makeini(
        """
        [pytest]
        addopts = --strict-markers -p no:cacheprovider
        filterwarnings = error
        """
    )
    return pytester


def test_loading_the_plugin_adds_only_a_few_small_lazyotel_modules() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import pytest
        before = set(sys.modules)
        import lazyotel.pytest_plugin
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = json.loads(out.stdout)
    # lazyotel's own small modules only (the floors of the house); any other module is an import
    # every pytest session of every project with lazyotel installed would pay for.
    assert [m for m in added if m.split(".")[0] != "lazyotel"] == [], added
    assert len(added) <= 9, added
    assert not [m for m in added if m.startswith(("opentelemetry", "wrapt", "httpx"))]
    assert out.stderr == ""


def test_unused_plugin_prints_nothing_and_warns_nothing(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import sys
        def test_plain():
            assert not [m for m in sys.modules if m.startswith("opentelemetry")]
        """
    )
    result = project.runpytest_subprocess("-W", "error", "-q")
    result.assert_outcomes(passed=1)
    assert "lazyotel" not in result.stdout.str() + result.stderr.str()


def test_fixture_captures_a_decorated_command(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import lazyotel

        @lazyotel.trace_command("data_show")
        def show(symbol):
            return {"operation_id": "op-1"}

        def test_spans(lazyotel_spans):
            assert show("AAPL") == {"operation_id": "op-1"}
            span = lazyotel_spans.get("cli.data_show")
            assert span.attributes["operation.id"] == "op-1"

        def test_untraced_without_fixture():
            import sys
            assert show("AAPL") == {"operation_id": "op-1"}
            assert lazyotel.mode() == "test"
        """
    )
    project.runpytest_inprocess("-q", "-p", "no:randomly").assert_outcomes(passed=2)


def test_marker_options_apply(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest, lazyotel

        @lazyotel.trace_command
        def login(user, password):
            return user

        @pytest.mark.lazyotel(deterministic_ids=True, capture_args=False)
        def test_options(lazyotel_spans):
            login("ann", "hunter2")
            span = lazyotel_spans.get("cli.login")
            assert span.context.trace_id == 1
            assert "cli.args" not in span.attributes
        """
    )
    project.runpytest_inprocess("-q").assert_outcomes(passed=1)


def test_marker_typo_fails_with_the_valid_options(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.lazyotel(determinstic_ids=True)
        def test_typo(lazyotel_spans):
            pass
        """
    )
    result = project.runpytest_inprocess("-q")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*unknown option 'determinstic_ids'; valid options: capture_args, deterministic_ids, span_prefix*"]
    )


def test_fixture_keeps_the_clis_bootstrap_and_undoes_the_tests_own(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import lazyotel

        lazyotel.bootstrap("ktrade", span_prefix="kt.")  # the CLI module's one call

        @lazyotel.trace_command
        def cmd():
            return 1

        def test_1_changes_configuration(lazyotel_spans):
            lazyotel.bootstrap("other", span_prefix="x.")
            cmd()
            assert lazyotel_spans.names() == ["x.cmd"]

        def test_2_sees_the_clis_configuration(lazyotel_spans):
            cmd()
            assert lazyotel_spans.names() == ["kt.cmd"]
            assert lazyotel_spans[0].resource.attributes["service.name"] == "ktrade"
        """
    )
    project.runpytest_inprocess("-q", "-p", "no:randomly").assert_outcomes(passed=2)


def test_isolate_ini_resets_around_every_test(project: pytest.Pytester) -> None:
    project.makeini(
        """
        [pytest]
        lazyotel_isolate = true
        filterwarnings = error
        """
    )
    project.makepyfile(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        def test_first_installs_a_provider():
            trace.set_tracer_provider(TracerProvider())

        def test_second_can_install_its_own():
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
            assert trace.get_tracer_provider() is provider
        """
    )
    project.runpytest_inprocess("-q", "-p", "no:randomly").assert_outcomes(passed=2)


def test_disabled_with_p_no_lazyotel(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        def test_needs_fixture(lazyotel_spans):
            pass
        """
    )
    result = project.runpytest_inprocess("-q", "-p", "no:lazyotel")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'lazyotel_spans' not found*"])


def test_loaded_explicitly_when_autoload_is_disabled(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    project.makepyfile(
        """
        import lazyotel

        @lazyotel.trace_command
        def cmd():
            return 1

        def test_fixture(lazyotel_spans):
            cmd()
            assert lazyotel_spans.names() == ["cli.cmd"]
        """
    )
    project.runpytest_subprocess("-q", "-p", "lazyotel").assert_outcomes(passed=1)


def test_child_process_inherits_test_mode(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import subprocess, sys

        def test_child():
            code = "import lazyotel, sys; print(lazyotel.mode())"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            assert out.stdout.strip() == "test"

        def test_child_opts_in(monkeypatch):
            monkeypatch.setenv("LAZYOTEL_MODE", "on")
            code = "import lazyotel; print(lazyotel.mode())"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            assert out.stdout.strip() == "on"
        """
    )
    project.runpytest_inprocess("-q").assert_outcomes(passed=2)


_GENERATED_CONFTEST = """
import logging, threading

import pytest

OVERRIDES = []

class _Catch(logging.Handler):
    def emit(self, record):
        if "Overriding" in record.getMessage():
            OVERRIDES.append(record.getMessage())

logging.getLogger("opentelemetry").addHandler(_Catch())

@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = threading.active_count()
    yield
    # Torn down after lazyotel_spans (set up before it), so after its reset.
    assert threading.active_count() == before

def pytest_sessionfinish(session):
    with open("report.txt", "w") as f:
        f.write(f"{len(OVERRIDES)} {threading.active_count()}")
"""

_GENERATED_TEST = """
import pytest
import lazyotel
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

MODULE_TRACER = trace.get_tracer(__name__)

@lazyotel.trace_command
def command(n):
    return n

@pytest.mark.parametrize("n", range(300))
def test_generated(n, lazyotel_spans):
    if n % 3 == 0:
        # Some tests install their own provider, as real suites do.
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(provider)
        assert trace.get_tracer_provider() is provider
    with MODULE_TRACER.start_as_current_span(f"module-{n}"):
        pass
    assert command(n) == n
    names = lazyotel_spans.names()
    assert names[-1] == f"cli.command"
    assert lazyotel_spans[-1].attributes["cli.args"] == '{"args": [%d], "kwargs": {}}' % n
    assert all(name in (f"module-{n}", "cli.command") for name in names), names
"""


@pytest.mark.skipif(not _has("pytest_randomly"), reason="pytest-randomly is not installed")
def test_300_generated_tests_in_random_order_leak_nothing(project: pytest.Pytester) -> None:
    project.makeconftest(_GENERATED_CONFTEST)
    project.makepyfile(test_generated=_GENERATED_TEST)
    result = project.runpytest_subprocess("-q", "-p", "randomly")
    result.assert_outcomes(passed=300)
    overrides, threads = (project.path / "report.txt").read_text().split()
    assert overrides == "0"
    assert threads == "1"


@pytest.mark.skipif(not _has("xdist"), reason="pytest-xdist is not installed")
def test_works_under_xdist(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest, lazyotel

        @lazyotel.trace_command
        def cmd(n):
            return n

        @pytest.mark.parametrize("n", range(20))
        def test_each(n, lazyotel_spans):
            cmd(n)
            assert lazyotel_spans.names() == ["cli.cmd"]
        """
    )
    project.runpytest_subprocess("-q", "-n", "2").assert_outcomes(passed=20)
