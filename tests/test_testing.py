"""lazyotel.testing: reset(), capture_spans(), enabled(). Runs against OpenTelemetry 1.21 too."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import textwrap
import threading

import pytest
from opentelemetry import metrics, propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import lazyotel
from lazyotel import testing

# Created at import, before any provider exists: the case hand-written resets get wrong.
MODULE_TRACER = trace.get_tracer("tests.module_level")
LAZY_MODULE_TRACER = lazyotel.get_tracer("tests.lazy_module_level")


def _memory_provider(*, batch: bool = False) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return provider, exporter


def _names(exporter: InMemorySpanExporter) -> list[str]:
    return [span.name for span in exporter.get_finished_spans()]


def test_module_level_tracer_follows_each_new_provider_across_resets() -> None:
    for round_ in range(3):
        testing.reset()
        provider, exporter = _memory_provider()
        trace.set_tracer_provider(provider)
        with MODULE_TRACER.start_as_current_span(f"plain-{round_}"):
            pass
        with LAZY_MODULE_TRACER.start_as_current_span(f"lazy-{round_}"):
            pass
        assert _names(exporter) == [f"plain-{round_}", f"lazy-{round_}"]


def test_reset_makes_set_tracer_provider_work_again_without_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, _ = _memory_provider()
    trace.set_tracer_provider(first)
    testing.reset()
    second, exporter = _memory_provider()
    with caplog.at_level(logging.WARNING):
        trace.set_tracer_provider(second)
    assert trace.get_tracer_provider() is second
    assert "Overriding" not in caplog.text
    with trace.get_tracer("t").start_as_current_span("after-reset"):
        pass
    assert _names(exporter) == ["after-reset"]


def test_reset_shuts_the_old_provider_down_and_leaves_no_threads() -> None:
    before = threading.active_count()
    for _ in range(5):
        provider, _ = _memory_provider(batch=True)
        trace.set_tracer_provider(provider)
        testing.reset()
    assert threading.active_count() == before


def test_reset_removes_the_old_providers_atexit_handler() -> None:
    provider = TracerProvider(shutdown_on_exit=True)
    trace.set_tracer_provider(provider)
    assert provider._atexit_handler is not None
    testing.reset()
    assert provider._atexit_handler is None


def test_reset_restores_metrics_globals() -> None:
    from opentelemetry.sdk.metrics import MeterProvider

    meter_provider = MeterProvider()
    metrics.set_meter_provider(meter_provider)
    testing.reset()
    fresh = MeterProvider()
    metrics.set_meter_provider(fresh)
    assert metrics.get_meter_provider() is fresh
    fresh.shutdown()


def test_reset_restores_the_default_propagator() -> None:
    from opentelemetry.propagators.composite import CompositePropagator

    propagate.set_global_textmap(CompositePropagator([]))
    testing.reset()
    carrier: dict[str, str] = {}
    provider, _ = _memory_provider()
    trace.set_tracer_provider(provider)
    with trace.get_tracer("t").start_as_current_span("s"):
        propagate.inject(carrier)
    assert "traceparent" in carrier


def test_reset_forgets_lazyotel_configuration_and_mode() -> None:
    lazyotel.bootstrap("svc", mode="off", span_prefix="x.")
    assert lazyotel.mode() == "off"
    testing.reset()
    assert lazyotel.mode() == "test"  # auto, under pytest
    from lazyotel import _config

    assert _config.SETTINGS.service_name is None
    assert _config.SETTINGS.span_prefix == "cli."


def test_capture_spans_collects_in_memory_with_helpers() -> None:
    tracer = lazyotel.get_tracer("t")
    with testing.capture_spans() as spans:
        with tracer.start_as_current_span("parent") as parent:
            parent.set_attribute("k", "v")
            with tracer.start_as_current_span("child"):
                pass
        assert spans.names() == ["child", "parent"]
        parent_span = spans.get("parent")
        assert spans.attributes("parent") == {"k": "v"}
        assert spans.children(parent_span) == [spans.get("child")]
        assert spans.parent(spans.get("child")) is parent_span
        assert spans.parent(parent_span) is None
        spans.clear()
        assert len(spans) == 0
        with pytest.raises(LookupError, match="expected one span named 'missing'"):
            spans.get("missing")


def test_capture_spans_ignores_an_otlp_endpoint_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("LAZYOTEL_MODE", "test")
    lazyotel.bootstrap("svc", exporter="otlp")
    with testing.capture_spans() as spans, lazyotel.get_tracer("t").start_as_current_span("only-in-memory"):
        pass
    assert spans.names() == ["only-in-memory"]
    from lazyotel._provider import RUNTIME

    assert RUNTIME.own is None  # no network pipeline was built


def test_deterministic_ids_are_sequential_and_ignore_random_seed() -> None:
    tracer = lazyotel.get_tracer("t")
    runs = []
    for seed in (1, 2):
        random.seed(seed)
        with (
            testing.capture_spans(deterministic_ids=True) as spans,
            tracer.start_as_current_span("a"),
            tracer.start_as_current_span("b"),
        ):
            pass
        runs.append([(s.context.trace_id, s.context.span_id) for s in spans])
        testing.reset()
    assert runs[0] == runs[1] == [(1, 2), (1, 1)]


def test_capture_is_off_after_the_block() -> None:
    tracer = lazyotel.get_tracer("t")
    with testing.capture_spans() as spans:
        pass
    with tracer.start_as_current_span("after") as span:
        assert not span.is_recording()
    assert spans.names() == []


def test_test_mode_by_default_imports_no_opentelemetry(subprocess_env: dict[str, str]) -> None:
    """A test that calls a decorated command without the fixture imports no OpenTelemetry,
    even with an OTLP endpoint configured."""
    code = textwrap.dedent(
        """
        import sys, lazyotel
        lazyotel.bootstrap("svc", instrument=["httpx"])
        @lazyotel.trace_command
        def cmd(x):
            return x * 2
        assert cmd(21) == 42
        assert lazyotel.mode() == "test"
        heavy = sorted(m for m in sys.modules if m.startswith(("opentelemetry", "wrapt", "httpx")))
        print(heavy)
        """
    )
    env = dict(subprocess_env, PYTEST_VERSION="8.0", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_enabled_traces_for_real_with_the_configured_exporter() -> None:
    exporter = InMemorySpanExporter()
    lazyotel.bootstrap("svc", exporter=exporter)
    tracer = lazyotel.get_tracer("t")
    with tracer.start_as_current_span("untraced") as span:
        assert not span.is_recording()
    with testing.enabled():
        with tracer.start_as_current_span("traced"):
            pass
        assert lazyotel.flush(5.0)
    assert [s.name for s in exporter.get_finished_spans()] == ["traced"]
    with tracer.start_as_current_span("untraced-again") as span:
        assert not span.is_recording()


def test_reset_fails_loudly_when_a_global_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(trace, "_TRACER_PROVIDER_SET_ONCE")
    with pytest.raises(
        RuntimeError, match=r"does not know opentelemetry-api \S+: .*_TRACER_PROVIDER_SET_ONCE"
    ):
        testing.reset()
    monkeypatch.undo()
    testing.reset()


def test_reset_inside_a_capture_leaves_the_next_capture_working() -> None:
    @lazyotel.trace_command
    def cmd() -> int:
        return 1

    with testing.capture_spans():
        testing.reset()
    with testing.capture_spans() as spans:
        cmd()
    assert spans.names() == ["cli.cmd"]
    from lazyotel._state import STATE

    cmd()
    assert STATE.bypass  # untraced again outside the capture


def test_enabled_inside_a_capture_leaves_later_spans_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    exporter = InMemorySpanExporter()
    lazyotel.bootstrap("svc", exporter=exporter)
    tracer = lazyotel.get_tracer("t")
    with testing.capture_spans() as spans:
        with testing.enabled(), tracer.start_as_current_span("real"):
            pass
        with tracer.start_as_current_span("captured"):
            pass
        from lazyotel._provider import RUNTIME

        assert RUNTIME.own is None  # no real pipeline built again after enabled() ended
    assert "captured" in spans.names()


SIGNAL_MODULES = ("opentelemetry.metrics._internal", "opentelemetry._logs._internal", "opentelemetry._events")


def test_reset_imports_no_signal_module_that_was_not_imported(subprocess_env: dict[str, str]) -> None:
    """A signal never imported has pristine globals: ``reset()`` leaves it alone, unimported."""
    code = textwrap.dedent(
        f"""
        import sys
        from opentelemetry import trace
        import lazyotel.testing
        lazyotel.testing.reset()
        print([m for m in {SIGNAL_MODULES!r} if m in sys.modules])
        """
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, check=False)
    assert (out.stdout, out.stderr, out.returncode) == ("[]\n", "", 0)


def test_reset_of_the_deprecated_events_signal_warns_nothing(subprocess_env: dict[str, str]) -> None:
    """opentelemetry-api 1.39-1.41 deprecate the events signal: resetting it is not a warning."""
    import importlib.util

    if importlib.util.find_spec("opentelemetry._events") is None:
        pytest.skip("this opentelemetry-api has no events signal")
    code = textwrap.dedent(
        """
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from opentelemetry import _events, trace
        import lazyotel.testing
        lazyotel.testing.reset()
        print("reset")
        """
    )
    command = [sys.executable, "-W", "error::DeprecationWarning", "-c", code]
    out = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, check=False)
    assert (out.stdout, out.stderr, out.returncode) == ("reset\n", "", 0)
