"""The pipeline's life in one process: exporter objects and classes, reconfigure, shutdown,
capturing in ``on`` mode, and configuration the environment decides."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from _child import site_without
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import lazyotel
from lazyotel import _provider, testing
from lazyotel._provider import RUNTIME

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def on_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trace for real in this process (the autouse fixture resets everything afterwards)."""
    monkeypatch.setenv("LAZYOTEL_MODE", "on")
    _provider.invalidate()


def _span(name: str) -> None:
    with lazyotel.get_tracer("lifecycle").start_as_current_span(name):
        pass


@pytest.mark.usefixtures("on_mode")
def test_reconfigure_keeps_an_exporter_object_the_user_passed() -> None:
    exporter = InMemorySpanExporter()
    lazyotel.bootstrap("svc", exporter=exporter)
    _span("before")
    lazyotel.reconfigure(headers={"x-team": "a"})  # an export setting: the pipeline is swapped
    _span("after")
    assert lazyotel.flush(5.0)
    assert [s.name for s in exporter.get_finished_spans()] == ["before", "after"]


class _ClassLevelExporter(SpanExporter):
    names: ClassVar[list[str]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.names.extend(span.name for span in spans)
        return SpanExportResult.SUCCESS


@pytest.mark.usefixtures("on_mode")
def test_an_exporter_class_is_a_factory() -> None:
    _ClassLevelExporter.names.clear()
    lazyotel.bootstrap("svc", exporter=_ClassLevelExporter)
    _span("via-class")
    assert lazyotel.flush(5.0)
    assert _ClassLevelExporter.names == ["via-class"]


@pytest.mark.usefixtures("on_mode")
def test_bootstrap_after_shutdown_leaves_spans_harmless() -> None:
    lazyotel.bootstrap("svc", exporter=InMemorySpanExporter())
    _span("first")
    assert lazyotel.shutdown(5.0)
    lazyotel.bootstrap("renamed", exporter="none")  # resource and exporter change after shutdown
    _span("after-shutdown")  # must not raise into the caller


@pytest.mark.usefixtures("on_mode")
def test_capture_in_on_mode_builds_no_real_pipeline() -> None:
    """The README's unittest example runs in ``on`` mode: capturing still sends nothing anywhere."""
    lazyotel.bootstrap("svc", endpoint="http://127.0.0.1:9")

    @lazyotel.trace_command
    def cmd() -> int:
        return 1

    with testing.capture_spans() as spans:
        assert cmd() == 1
    assert spans.names() == ["cli.cmd"]
    assert RUNTIME.own is None
    assert not RUNTIME.activated


def test_a_protocol_from_the_environment_never_fails_bootstrap(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` set by an operator, gRPC exporter not installed:
    ``bootstrap(exporter="otlp")`` in the CLI's module must not raise."""
    site = site_without(tmp_path / "site", "opentelemetry/exporter/otlp/proto/grpc")
    env = dict(
        subprocess_env,
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]),
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        LAZYOTEL_MODE="off",
    )
    code = "import lazyotel; lazyotel.bootstrap('svc', exporter='otlp'); print('ok')"
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert (out.returncode, out.stdout) == (0, "ok\n"), out.stderr
    # The same protocol passed by the code: an operator's off switch still saves the CLI.
    code = "import lazyotel; lazyotel.bootstrap('svc', exporter='otlp', protocol='grpc'); print('ok')"
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
