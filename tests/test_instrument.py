"""Deferred instrumentation (lazyotel/_instrument.py): when it applies, what it never breaks.

Most tests use the fake libraries and instrumentors of ``tests/apps/instr/site`` (real
``BaseInstrumentor`` subclasses, found through real ``*.dist-info`` entry points), because
httpx is imported in every pytest process (pytest-httpx's plugin imports it). The httpx
request path itself is covered in ``test_propagation.py``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import _child
import pytest

import lazyotel
import lazyotel.testing

SITE = Path(__file__).parent / "apps" / "instr" / "site"
FAKES = ("lazyfakelib", "lazyfakebroken", "lazyfakebadload", "lazyfake_instrumentation", "lazyfake_badload")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fake site on sys.path; its modules are forgotten afterwards (fresh singletons)."""
    monkeypatch.syspath_prepend(str(SITE))
    yield
    lazyotel.testing.reset()  # uninstrument while the fake modules still exist
    for name in list(sys.modules):
        if name.startswith(FAKES):
            del sys.modules[name]


def calls() -> list[tuple[str, str]]:
    """What the fake instrumentors were asked to do, in order ([] if none was loaded)."""
    module = sys.modules.get("lazyfake_instrumentation")
    return list(module.CALLS) if module else []


def lazyotel_records(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lazyotel" and r.levelno >= level]


def test_a_library_imported_later_is_instrumented_when_imported(fakes: None) -> None:
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        assert "lazyfakelib" not in sys.modules
        assert "lazyfake_instrumentation" not in sys.modules  # nothing loaded before the import
        import lazyfakelib

        assert lazyfakelib.send("x") == "instrumented sent x"
    assert calls() == [("instrument", "lazyfakelib")]


def test_a_library_imported_before_activation_is_instrumented_at_once(fakes: None) -> None:
    import lazyfakelib

    lazyotel.bootstrap(instrument=["lazyfakelib"])
    assert lazyfakelib.send("x") == "sent x"
    with lazyotel.testing.capture_spans():
        assert lazyfakelib.send("x") == "instrumented sent x"


def test_arming_twice_is_harmless(fakes: None) -> None:
    import lazyfakelib

    from lazyotel import _instrument

    lazyotel.bootstrap(instrument=["lazyfakelib", "lazyfakelib"])
    with lazyotel.testing.capture_spans():
        _instrument.arm(("lazyfakelib", "lazyfakelib"))
        with lazyotel.testing.capture_spans():
            _instrument.arm(["lazyfakelib"])
    assert lazyfakelib.send("x") == "instrumented sent x"
    assert calls() == [("instrument", "lazyfakelib")]


def test_threads_arming_and_importing_at_once_instrument_once(fakes: None) -> None:
    import threading

    from lazyotel import _instrument

    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            if i % 2:
                _instrument.arm(["lazyfakelib"])
            else:
                import lazyfakelib  # noqa: F401
        except BaseException as exc:
            errors.append(exc)

    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    import lazyfakelib

    assert errors == []
    assert lazyfakelib.send("x") == "instrumented sent x"
    assert calls() == [("instrument", "lazyfakelib")]


def test_reset_uninstruments_what_lazyotel_instrumented(fakes: None) -> None:
    import lazyfakelib

    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        pass
    lazyotel.testing.reset()
    assert lazyfakelib.send("x") == "sent x"
    assert calls() == [("instrument", "lazyfakelib"), ("uninstrument", "lazyfakelib")]


def test_a_hook_armed_before_reset_does_nothing_after_it(fakes: None) -> None:
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        pass
    hooks_before = len(sys.meta_path)
    lazyotel.testing.reset()
    assert len(sys.meta_path) == hooks_before - 1  # the import hook is gone
    import lazyfakelib

    assert lazyfakelib.send("x") == "sent x"
    assert calls() == []


def test_arming_again_after_reset_instruments_again(fakes: None) -> None:
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        pass
    lazyotel.testing.reset()
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        import lazyfakelib

    assert lazyfakelib.send("x") == "instrumented sent x"
    assert calls() == [("instrument", "lazyfakelib")]


def test_a_name_that_is_no_module_is_resolved_through_the_instruments_requirement(fakes: None) -> None:
    """``lazyfake-client`` (like contrib's ``aiohttp-client``) instruments ``lazyfakelib``."""
    lazyotel.bootstrap(instrument=["lazyfake-client"])
    with lazyotel.testing.capture_spans():
        assert "lazyfakelib" not in sys.modules
        import lazyfakelib

    assert lazyfakelib.send("x") == "instrumented sent x"


def test_a_name_with_no_module_and_no_declared_library_is_instrumented_at_activation(
    fakes: None,
) -> None:
    lazyotel.bootstrap(instrument=["lazyfake-eager"])
    with lazyotel.testing.capture_spans():
        assert calls() == [("instrument", "lazyfake-eager")]
    lazyotel.testing.reset()
    assert calls() == [("instrument", "lazyfake-eager"), ("uninstrument", "lazyfake-eager")]


def test_an_instrumentor_whose_library_is_not_installed_is_skipped_quietly(
    fakes: None, caplog: pytest.LogCaptureFixture
) -> None:
    lazyotel.bootstrap(instrument=["lazyfake-absent"])
    with lazyotel.testing.capture_spans():
        pass
    assert calls() == []
    assert lazyotel_records(caplog) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [("lazyfakebroken", "instrumentor exploded"), ("lazyfakebadload", "lazyfake_badload cannot be imported")],
)
def test_a_broken_instrumentor_breaks_neither_the_import_nor_the_command(
    fakes: None, caplog: pytest.LogCaptureFixture, name: str, reason: str
) -> None:
    lazyotel.bootstrap(instrument=[name])
    with lazyotel.testing.capture_spans() as spans:
        with lazyotel.get_tracer("t").start_as_current_span("cli.cmd"):
            module = __import__(name)
        assert module.VALUE in (42, 43)
    assert spans.names() == ["cli.cmd"]
    (warning,) = lazyotel_records(caplog)
    assert f"could not instrument {name!r}" in warning
    assert reason in warning


def test_an_uninstalled_instrumentor_is_one_warning_with_the_pip_hint(
    fakes: None, caplog: pytest.LogCaptureFixture
) -> None:
    lazyotel.bootstrap(instrument=["nosuchlib", "lazyfakelib", "other-lib"])
    with lazyotel.testing.capture_spans():
        pass
    with lazyotel.testing.capture_spans():  # armed again: no second warning
        import lazyfakelib
    (warning,) = lazyotel_records(caplog)
    assert "'nosuchlib', 'other-lib'" in warning
    assert "pip install opentelemetry-instrumentation-nosuchlib" in warning
    assert "pip install opentelemetry-instrumentation-other-lib" in warning
    assert lazyfakelib.send("x") == "instrumented sent x"  # the installed one still works


def test_the_httpx_hint_names_the_lazyotel_extra(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lazyotel import _instrument

    monkeypatch.setattr(_instrument, "_module_named", lambda name: None)
    monkeypatch.setattr(_instrument, "_entry_point", lambda name: None)
    _instrument.arm(["httpx"])
    (warning,) = lazyotel_records(caplog)
    assert "pip install 'lazyotel[httpx]'" in warning


def test_nothing_is_instrumented_in_test_mode_without_capture(fakes: None) -> None:
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.get_tracer("t").start_as_current_span("cli.cmd"):  # bypassed: test mode
        import lazyfakelib

    assert lazyotel.mode() == "test"
    assert lazyfakelib.send("x") == "sent x"
    assert calls() == []


def test_an_instrumentation_applied_by_someone_else_is_left_alone(fakes: None) -> None:
    import lazyfakelib
    from lazyfake_instrumentation import FakeInstrumentor

    FakeInstrumentor().instrument()
    lazyotel.bootstrap(instrument=["lazyfakelib"])
    with lazyotel.testing.capture_spans():
        pass
    lazyotel.testing.reset()
    assert lazyfakelib.send("x") == "instrumented sent x"  # not uninstrumented by lazyotel
    assert calls() == [("instrument", "lazyfakelib")]
    FakeInstrumentor().uninstrument()


# -- in a fresh interpreter --------------------------------------------------------------------------


def run_child(code: str, env: dict[str, str], *args: str) -> _child.Child:
    """``code`` in a fresh interpreter, without the logging prelude."""
    return _child.run_child(code, env, *args, level=None)


def on_with_fakes(subprocess_env: dict[str, str]) -> dict[str, str]:
    """A child in ``on`` mode with the fake site on its path."""
    path = os.pathsep.join([str(SITE), subprocess_env["PYTHONPATH"]])
    return {**subprocess_env, "LAZYOTEL_MODE": "on", "PYTHONPATH": path}


def test_bootstrap_with_instrument_imports_nothing(subprocess_env: dict[str, str]) -> None:
    child = run_child(
        """
        import json, sys
        import lazyotel
        lazyotel.bootstrap(instrument=["httpx", "requests"])
        lazyotel.get_tracer(__name__)
        heavy = ("opentelemetry", "wrapt", "httpx", "importlib.metadata", "lazyotel._instrument")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
        """,
        subprocess_env,
    )
    assert (child.returncode, child.stderr) == (0, "")
    assert json.loads(child.stdout) == []


def test_arming_at_activation_imports_nothing_either(subprocess_env: dict[str, str]) -> None:
    """No entry-point scan, no wrapt, no library, not even ``_instrument``: a directory listing
    and an import hook, which instruments httpx when the command imports it."""
    child = run_child(
        """
        import json, sys
        import lazyotel
        lazyotel.bootstrap(instrument=["httpx"], exporter="none")
        with lazyotel.get_tracer("app").start_as_current_span("cli.cmd"):
            pass
        heavy = ("wrapt", "httpx", "importlib.metadata", "asyncio", "opentelemetry.instrumentation")
        loaded = sorted(m for m in sys.modules if m.startswith(heavy))
        before = [loaded, "lazyotel._instrument" in sys.modules]
        import httpx
        seat = httpx.HTTPTransport.__dict__["handle_request"]
        print(json.dumps([*before, "lazyotel._instrument" in sys.modules, hasattr(seat, "__wrapped__")]))
        """,
        {**subprocess_env, "LAZYOTEL_MODE": "on"},
    )
    assert (child.returncode, child.stderr) == (0, "")
    assert json.loads(child.stdout) == [[], False, True, True]


def test_instrument_given_after_activation_is_armed(subprocess_env: dict[str, str]) -> None:
    env = on_with_fakes(subprocess_env)
    child = run_child(
        """
        import lazyotel
        lazyotel.bootstrap(exporter="none")
        with lazyotel.get_tracer("app").start_as_current_span("cli.first"):
            pass
        lazyotel.bootstrap(exporter="none", instrument=["lazyfakelib"])
        import lazyfakelib
        print(lazyfakelib.send("x"))
        """,
        env,
    )
    assert (child.returncode, child.stdout, child.stderr) == (0, "instrumented sent x\n", "")


BROKEN_CLI = """
    import json, sys
    import lazyotel
    lazyotel.bootstrap(instrument=["lazyfakebroken", "lazyfakebadload"], exporter="none")

    with lazyotel.get_tracer("app").start_as_current_span("cli.cmd"):
        import lazyfakebroken, lazyfakebadload
    print(json.dumps([lazyfakebroken.VALUE, lazyfakebadload.VALUE]))
    sys.exit(3)
"""


def test_a_broken_instrumentor_in_a_real_run(subprocess_env: dict[str, str]) -> None:
    """On mode, entry points raising on load and on instrument: same output and exit code."""
    env = on_with_fakes(subprocess_env)
    child = run_child(BROKEN_CLI, env)
    assert (child.returncode, json.loads(child.stdout)) == (3, [42, 43])
    lines = child.stderr.splitlines()
    assert len(lines) == 1, child.stderr  # one warning for the run, however many faults
    assert "could not instrument 'lazyfakebroken'" in lines[0]


def test_a_hook_that_fired_in_a_child_did_so_after_the_module_body(subprocess_env: dict[str, str]) -> None:
    """The hook sees the whole module (it runs after the body, inside the import)."""
    env = on_with_fakes(subprocess_env)
    child = run_child(
        """
        import lazyotel, sys
        lazyotel.bootstrap(instrument=["lazyfakelib"], exporter="none")
        with lazyotel.get_tracer("app").start_as_current_span("cli.cmd"):
            assert "lazyfakelib" not in sys.modules
            from lazyfakelib import send
        print(send("x"))
        """,
        env,
    )
    assert (child.returncode, child.stdout, child.stderr) == (0, "instrumented sent x\n", "")


# -- pytest-httpx ----------------------------------------------------------------------------------

PYTEST_HTTPX_TESTS = """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    import pytest

    import lazyotel
    import lazyotel.testing

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"real")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    REAL = f"http://127.0.0.1:{server.server_address[1]}/"
    MOCKED = "http://mocked.invalid/"
    tracer = lazyotel.get_tracer("t")

    @pytest.fixture(autouse=True)
    def configure():
        # Before the other fixtures: lazyotel_spans's reset forgets the configuration.
        lazyotel.bootstrap(instrument=["httpx"])
    CLIENT = httpx.Client()  # one client for the whole session, built before any instrumentation

    def get(url):
        with lazyotel.testing.capture_spans() as spans:
            with tracer.start_as_current_span("cli.cmd"):
                text = CLIENT.get(url).text
        return text, spans.names()

    def test_1_real_before_any_mock():
        assert get(REAL) == ("real", ["GET", "cli.cmd"])

    def test_2_mocked(httpx_mock):
        httpx_mock.add_response(url=MOCKED, text="mocked")
        assert get(MOCKED)[0] == "mocked"

    def test_3_real_after_a_mock():
        assert get(REAL) == ("real", ["GET", "cli.cmd"])

    def test_4_mocked_with_the_fixture_after(httpx_mock, lazyotel_spans):
        httpx_mock.add_response(url=MOCKED, text="mocked")
        with tracer.start_as_current_span("cli.cmd"):
            assert CLIENT.get(MOCKED).text == "mocked"
        assert lazyotel_spans.names() == ["GET", "cli.cmd"]

    def test_5_real_after_a_mock():
        assert get(REAL) == ("real", ["GET", "cli.cmd"])

    def test_6_mocked_with_the_fixture_before(lazyotel_spans, httpx_mock):
        httpx_mock.add_response(url=MOCKED, text="mocked")
        with tracer.start_as_current_span("cli.cmd"):
            assert CLIENT.get(MOCKED).text == "mocked"

    def test_7_mocked_then_capture_in_the_body(httpx_mock):
        httpx_mock.add_response(url=MOCKED, text="mocked")
        assert get(MOCKED) == ("mocked", ["GET", "cli.cmd"])

    def test_8_real_after_a_mock():
        assert get(REAL) == ("real", ["GET", "cli.cmd"])
"""


def test_pytest_httpx_mocks_do_not_lose_the_instrumentation(pytester: pytest.Pytester) -> None:
    """httpx_mock restores the method it found at set-up when its test ends, which drops a
    wrapper applied during the test; the next capture puts the instrumentation back, and
    never stacks it twice (one GET span per request in every test)."""
    pytester.makepyfile(test_mocked=textwrap.dedent(PYTEST_HTTPX_TESTS))
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=8)


def test_pytest_httpx_alone_is_untouched(pytester: pytest.Pytester) -> None:
    """A suite using httpx_mock and lazyotel without any capture: no instrumentation at all."""
    pytester.makepyfile(
        test_plain=textwrap.dedent(
            """
            import httpx
            import lazyotel

            lazyotel.bootstrap(instrument=["httpx"])

            def test_mocked(httpx_mock):
                httpx_mock.add_response(text="mocked")
                assert httpx.get("http://example.invalid/").text == "mocked"

            def test_nothing_loaded():
                import sys
                assert "opentelemetry.instrumentation.httpx" not in sys.modules
                assert "lazyotel._instrument" not in sys.modules
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
