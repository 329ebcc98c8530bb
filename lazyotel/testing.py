"""Test tools: capture spans in memory, trace for real, and reset every global.

Under pytest, decorated commands run untraced (test mode) unless a test asks for spans:

    with lazyotel.testing.capture_spans() as spans:
        run_my_command()
    assert spans.names() == ["cli.my_command"]

``reset()`` restores OpenTelemetry's and lazyotel's globals; the pytest plugin's
``lazyotel_spans`` fixture wraps both. ``OTLPReceiver`` is a real OTLP collector on
127.0.0.1 (extra ``lazyotel[testing]``). Importing this module imports nothing heavy: the
receiver's module is imported when ``OTLPReceiver`` is first looked up.
"""

from __future__ import annotations

from contextlib import contextmanager

from . import _provider
from ._doctor import ImportReport, assert_no_imports, check_imports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.util.types import AttributeValue

    from ._receiver import OTLPReceiver, ReceivedEvent, ReceivedExport, ReceivedSpan

__all__ = [
    "CapturedSpans",
    "ImportReport",
    "OTLPReceiver",
    "ReceivedEvent",
    "ReceivedExport",
    "ReceivedSpan",
    "assert_no_imports",
    "capture_spans",
    "check_imports",
    "enabled",
    "isolated",
    "reset",
]

#: Served by ``__getattr__`` from ``lazyotel._receiver``, imported on first use.
_RECEIVER_NAMES = ("OTLPReceiver", "ReceivedEvent", "ReceivedExport", "ReceivedSpan")

#: How long ``reset()`` waits for an old provider to shut down.
_RESET_TIMEOUT = 2.0


def __getattr__(name: str) -> object:
    if name in _RECEIVER_NAMES:
        from . import _receiver

        value: type = getattr(_receiver, name)
        value.__module__ = __name__  # where users find it, as for every public name here
        globals()[name] = value  # looked up once
        return value
    msg = f"module 'lazyotel.testing' has no attribute {name!r}"
    raise AttributeError(msg)


class CapturedSpans:
    """The spans finished while ``capture_spans()`` is open, oldest first, with helpers."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        """The finished spans (``opentelemetry.sdk.trace.ReadableSpan``), oldest first."""
        return list(self._exporter.get_finished_spans())

    def __iter__(self) -> Iterator[ReadableSpan]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    def __getitem__(self, index: int) -> ReadableSpan:
        return self.spans[index]

    def names(self) -> list[str]:
        """The span names, oldest first."""
        return [span.name for span in self.spans]

    def by_name(self, name: str) -> list[ReadableSpan]:
        """Every finished span called ``name``."""
        return [span for span in self.spans if span.name == name]

    def get(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``.

        Raises:
            LookupError: There is none, or more than one.
        """
        found = self.by_name(name)
        if len(found) != 1:
            msg = f"expected one span named {name!r}, found {len(found)}; spans: {self.names()}"
            raise LookupError(msg)
        return found[0]

    def attributes(self, name: str) -> dict[str, AttributeValue]:
        """The attributes of the one span called ``name``, as a plain dict."""
        return dict(self.get(name).attributes or {})

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        """The captured parent of ``span``, or None (a root, or a parent not captured)."""
        if span.parent is None:
            return None
        for candidate in self.spans:
            if candidate.context is not None and candidate.context.span_id == span.parent.span_id:
                return candidate
        return None

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        """The captured spans whose parent is ``span``."""
        if span.context is None:  # only a span still being built has none
            return []
        span_id = span.context.span_id
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == span_id]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        self._exporter.clear()

    def __repr__(self) -> str:
        return f"<CapturedSpans {self.names()}>"


@contextmanager
def capture_spans(*, deterministic_ids: bool = False) -> Iterator[CapturedSpans]:
    """Trace into memory for the duration of the block, whatever the mode or environment.

    Nothing is sent to the network. Decorated commands, ``lazyotel.get_tracer`` tracers,
    and instrumentations lazyotel applies all record into the yielded ``CapturedSpans``.

    Args:
        deterministic_ids: Use trace and span ids 1, 2, 3... instead of random ones.

    Yields:
        The finished spans, with helpers (``names()``, ``get(name)``, ``children(span)``...).
    """
    capture = _provider.begin_capture(deterministic_ids=deterministic_ids)
    try:
        yield CapturedSpans(capture.exporter)
    finally:
        _provider.end_capture(capture)


@contextmanager
def enabled() -> Iterator[None]:
    """Trace for real inside a test: the configured exporter, as in ``on`` mode.

    On leaving, the spans are flushed and lazyotel's pipeline is shut down (within
    ``flush_timeout``), so the next test starts untraced again.
    """
    previous = _provider.begin_real()
    try:
        yield
    finally:
        _provider.end_real(previous)


# -- reset ---------------------------------------------------------------------------------------


def reset() -> None:
    """Restore every OpenTelemetry global and lazyotel's own state to a clean slate.

    The trace, metrics, logs (and, where the installed version has them, events) providers,
    their one-shot ``Once`` latches and proxies, and the global propagator are restored; the
    old providers are shut down within a short deadline and their atexit handlers removed.
    lazyotel forgets its configuration, mode cache, activation and the instrumentations it
    applied. Tracers handed out before, module-level ones included, follow whatever provider
    is installed next.

    Raises:
        RuntimeError: The installed OpenTelemetry keeps its globals somewhere this version of
            lazyotel does not know; the message names the version.
    """
    _provider.reset(_RESET_TIMEOUT)


@contextmanager
def isolated() -> Iterator[None]:
    """Run a block, then ``reset()``, keeping the configuration in force when it began.

    A CLI calls ``lazyotel.bootstrap(...)`` once, when its module is imported (usually while
    pytest collects). Whatever the block changes (``bootstrap``/``reconfigure`` calls,
    providers it installs, spans, the mode cache, instrumentations) is undone; that
    configuration is kept for the next test. The pytest plugin's ``lazyotel_spans`` fixture and
    ``lazyotel_isolate`` option use it; in unittest: ``self.enterContext(isolated())``.
    """
    saved = _provider.settings_snapshot()
    try:
        yield
    finally:
        reset()
        _provider.restore_settings(saved)


for _name in __all__:  # public objects say where users find them (reprs, docs, pickles)
    if _name in globals():
        globals()[_name].__module__ = __name__
del _name, annotations, contextmanager, TYPE_CHECKING  # only the names in __all__ are public
