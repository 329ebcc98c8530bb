"""The exporters: built from the settings, guarded so that exporting never hurts the command.

A pipeline (SDK cost): imported by ``_sdk`` only, at activation. ``GuardedExporter`` probes the
collector, catches every fault and keeps the books for the one report at exit.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _config, _endpoint, _log
from ._bounded import call_bounded
from ._log import describe

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

    from ._config import Settings

#: Queue large enough that a burst of 10,000 spans is not dropped before the exit flush.
#: ``OTEL_BSP_MAX_QUEUE_SIZE`` still wins (the SDK reads it when we pass nothing).
DEFAULT_MAX_QUEUE_SIZE = 16384


class Unavailable(Exception):
    """Telemetry cannot run as configured (a missing package, an unknown exporter name)."""


def build_exporter(settings: Settings) -> SpanExporter | None:
    spec = _config.exporter_name(settings)
    if spec == "none":
        return None
    if spec == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: a CLI's stdout belongs to its users (pipes, --json output).
        out: Any = _Stderr()
        return GuardedExporter(lambda: ConsoleSpanExporter(out=out), None, "console")
    if isinstance(spec, str) and spec in _config.OTLP_EXPORTERS:
        protocol = _config.OTLP_EXPORTERS[spec] or _config.otlp_protocol(settings.protocol)
        if protocol not in _config.PROTOCOLS:  # the environment's (the argument was checked)
            msg = f"OTLP protocol {protocol!r} is not supported; use 'http/protobuf' or 'grpc'"
            raise Unavailable(msg)
        path, extra = _config._EXPORTER_PACKAGES[protocol]
        if not _config.package_installed(path):
            msg = f"the OTLP {protocol} exporter is not installed (pip install 'lazyotel[{extra}]')"
            raise Unavailable(msg)
        try:
            endpoint = _endpoint.resolve_endpoint(settings.endpoint, protocol)
        except ValueError as exc:
            raise Unavailable(str(exc)) from None
        if endpoint.warning:
            _log.warn_once("%s", endpoint.warning)
        address = endpoint.address
        if address is not None and _endpoint.proxy_in_use(protocol, endpoint.url, *address):
            address = None  # the collector may be reachable only through the proxy
        exporter = GuardedExporter(
            _otlp_factory(settings, protocol, endpoint.url),
            endpoint.url,
            f"OTLP {protocol}",
            address=address,
            protocol=protocol,
            secrets=_log.header_values(settings.headers),
        )
        # Nobody chose the default localhost collector: its absence is not worth a warning on
        # every run of a developer's CLI (it is logged at debug level).
        exporter.quiet_unreachable = endpoint.source is None
        return exporter
    if isinstance(spec, str):
        return GuardedExporter(_entry_point_factory(spec), None, spec)
    if hasattr(spec, "export") and not isinstance(spec, type):  # an object; a class is a factory
        return GuardedExporter(lambda: spec, None, type(spec).__name__)
    return GuardedExporter(spec, None, getattr(spec, "__name__", "exporter"))


class _Stderr:
    """``sys.stderr`` as it is when written to, not when the exporter was built.

    click's ``CliRunner`` swaps ``sys.stderr`` for a stream it closes afterwards; a console
    exporter holding that stream would fail on every later export.
    """

    def _stream(self) -> Any:
        stream = sys.stderr
        if stream is None or getattr(stream, "closed", False):
            stream = sys.__stderr__
        return stream

    def write(self, text: str) -> int:
        stream = self._stream()
        return 0 if stream is None else stream.write(text)

    def flush(self) -> None:
        stream = self._stream()
        if stream is not None:
            stream.flush()


def _otlp_factory(settings: Settings, protocol: str, endpoint: str) -> Callable[[], SpanExporter]:
    headers = dict(settings.headers) if settings.headers is not None else None

    def make() -> SpanExporter:
        # The endpoint as resolved by the one rule (the exporters would resolve the
        # environment's differently); the other OTEL_* variables they read themselves.
        kwargs: dict[str, Any] = {"endpoint": endpoint}
        if headers is not None:
            kwargs["headers"] = headers
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            return Grpc(**kwargs)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

        return Http(**kwargs)

    return make


def _entry_point_factory(name: str) -> Callable[[], SpanExporter]:
    """An exporter named in ``OTEL_TRACES_EXPORTER`` other than otlp/console/none."""
    from importlib.metadata import entry_points

    installed = _group("opentelemetry_traces_exporter", entry_points)
    found = [ep for ep in installed if ep.name == name]
    if not found:
        import difflib

        names = sorted({"otlp", "console", "none"} | {ep.name for ep in installed})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        msg = (
            f"OTEL_TRACES_EXPORTER={name!r} names no installed exporter; "
            f"{hint}valid names: {', '.join(names)}"
        )
        raise Unavailable(msg)

    def make() -> SpanExporter:
        return found[0].load()()  # type: ignore[no-any-return]

    return make


def _group(group: str, entry_points: Any) -> Sequence[Any]:
    eps = entry_points()
    if hasattr(eps, "select"):
        return list(eps.select(group=group))
    return list(eps.get(group, ()))  # Python 3.9


# -- the guarded exporter -----------------------------------------------------------------------


class GuardedExporter(SpanExporter):
    """Wraps the real exporter so that it never hurts the command.

    - Before the first export, and after any failure, one TCP connect to the collector
      decides whether it is worth trying: a refused or unreachable collector drops the batch
      at once instead of entering the exporter's retry back-off (up to 7 s per batch). Only an
      address this module can parse is probed (http/https URLs, a gRPC ``host:port``), and
      never one the exporter would reach through a proxy.
    - Any exception becomes a failed export. Nothing is warned while the command runs: the
      first reason of each kind is kept, with the number of spans it cost, for the one report
      at exit (``SwitchProcessor.report``).

    The real exporter is built at activation, and the command waits for it (see ``_build``).
    Building it in the background instead took its import (``requests`` or ``grpc``) off the
    first span's path, but made whole runs slower (the import competes with the command for the
    GIL; figures in benchmarks/README.md) and needed exit hooks to keep short commands' spans.
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        endpoint: str | None,
        label: str,
        *,
        address: tuple[str, int] | None = None,
        protocol: str | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._label = label
        self.secrets = secrets  # header values: scrubbed from every reason and debug line
        self._endpoint = endpoint
        self._address = address
        self.protocol = protocol
        self.inner: Any = _build(factory, label)
        self.keep_inner = False  # shutdown() leaves the real exporter running (it serves on)
        self._inner_closed = False
        self._probe_next = address is not None
        self._closed = False
        self._closed_reason = ""
        self.quiet_unreachable = False
        # The books, for the report at exit. handed/overflowed: SwitchProcessor (under its
        # lock); the rest here, where the SDK's export lock serialises the calls.
        self.queue_size = DEFAULT_MAX_QUEUE_SIZE
        self.handed = 0  # spans given to the batch processor
        self.overflowed = 0  # of those, dropped by its full queue
        self.taken = 0  # spans passed to export()
        self.exported = 0
        # "unreachable" or "failed" -> (spans, the first reason of that kind, all quiet)
        self.reasons: dict[str, tuple[int, str, bool]] = {}
        self.exporting_since: float | None = None  # an export() is running since (monotonic)
        self.spill: Any = None  # a _handoff.HandoffProcessor: undelivered spans go to the spool
        self.spilled = 0  # spans handed to it
        self.in_flight: Sequence[ReadableSpan] = ()
        self.processor: Any = None  # the batch processor whose queue feeds this exporter
        if hasattr(os, "register_at_fork"):
            # A forked child starts with an empty queue (the SDK clears it): its books too.
            books = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _reset_books(books()))

    def url(self) -> str:
        return _endpoint.display_url(self._endpoint) if self._endpoint else ""

    def where(self) -> str:
        return self._label + (f" at {self.url()}" if self._endpoint else "")

    def _fail(self, count: int, kind: str, reason: str, *, quiet: bool = False) -> None:
        spans, first, was_quiet = self.reasons.get(kind, (0, reason, True))
        self.reasons[kind] = (spans + count, first, was_quiet and quiet)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        count = len(spans)
        self.taken += count
        if self._closed:
            if self.spill is not None and not self._closed_reason:
                self._spill(spans)
            elif self._closed_reason:
                self._fail(count, "failed", self._closed_reason)
            # Else after shutdown (the exit's deadline passed): not booked, so the report
            # counts them as not delivered within flush_timeout.
            return SpanExportResult.FAILURE
        if self._probe_next and not self._reachable(count, spans):
            return SpanExportResult.FAILURE
        notes = _ExportNotes(self)
        _EXPORT_NOTES.scope.current = notes
        self.exporting_since = time.monotonic()
        self.in_flight = spans
        try:
            result = self.inner.export(spans)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - asyncio.CancelledError would end the batch thread
            notes.note(describe(exc))  # describe() keeps one line; note() scrubs it
            result = SpanExportResult.FAILURE
        finally:
            _EXPORT_NOTES.scope.current = None
            self.exporting_since = None
            self.in_flight = ()
        if result is SpanExportResult.SUCCESS:
            self.exported += count
            self._probe_next = False
        elif self.spill is not None and not notes.wrong_protocol:
            _log.debug("%s; the spans go to the spool", notes.reason())
            self._spill(spans)
            self._probe_next = self._address is not None
        else:
            self._fail(count, "failed", notes.reason())
            self._probe_next = self._address is not None
            if notes.wrong_protocol:
                self._closed, self._closed_reason = True, notes.reason()
        return result  # type: ignore[no-any-return]

    def _reachable(self, count: int, spans: Sequence[ReadableSpan] = (), timeout: float = 1.0) -> bool:
        import socket

        try:
            socket.create_connection(self._address, timeout=timeout).close()  # type: ignore[arg-type]
        except OSError as exc:
            reason = f"cannot reach the collector at {self.url()} ({type(exc).__name__}, {self._label})"
            _log.debug("%s", reason)
            if self.spill is not None and spans:
                self._spill(spans)
            else:
                self._fail(count, "unreachable", reason, quiet=self.quiet_unreachable)
            return False
        return True

    def _spill(self, spans: Sequence[ReadableSpan]) -> None:
        self.spilled += len(spans)
        self.spill.keep(spans)

    def spill_leftovers(self) -> None:
        """At exit, past the deadline: what is still queued or in flight goes to the spool.

        A batch in flight may yet reach the collector: then it is sent twice (at most one batch).
        """
        queue = getattr(getattr(self.processor, "_batch_processor", None), "_queue", None)
        left: list[ReadableSpan] = list(self.in_flight)
        while queue:
            try:
                left.append(queue.pop())
            except IndexError:  # the worker took the last one meanwhile
                break
        if left:
            self._spill(left)
        self.spill.shutdown()  # write the file and start the shipper

    def abandon(self) -> None:
        """Stop the real exporter's retries now: it talks to a server of the other protocol."""
        if self._inner_closed:
            return
        if self.protocol == "http/protobuf":
            # Its shutdown sets the event its back-off waits on.
            self._inner_closed = True
            self.inner.shutdown()
        else:
            # Some gRPC exporter versions' shutdown() takes the lock this export holds: set
            # only the event its back-off waits on (a private name, hence the getattr).
            event = getattr(self.inner, "_shutdown_in_progress", None)
            if isinstance(event, threading.Event):
                event.set()

    def shutdown(self) -> None:
        self._closed = True
        if not self.keep_inner and not self._inner_closed:
            self._inner_closed = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _reset_books(exporter: GuardedExporter | None) -> None:
    if exporter is not None:
        exporter.handed = exporter.overflowed = exporter.taken = exporter.exported = 0
        exporter.reasons = {}
        exporter.exporting_since = None


class _ExportNotes:
    """What the exporter logged while one ``export()`` ran: the reason it failed."""

    def __init__(self, exporter: GuardedExporter) -> None:
        self._exporter = exporter
        self._first = ""
        self.wrong_protocol = False

    def note(self, text: str) -> None:
        text = _log.scrub_line(text, self._exporter.secrets)
        hint = ""
        protocol = self._exporter.protocol
        if protocol == "http/protobuf" and "BadStatusLine" in text and "\\x00\\x00" in text:
            # An HTTP/2 frame where an HTTP/1.1 status line should be: a gRPC server.
            text = "the server answered in HTTP/2 frames (BadStatusLine)"
            hint = "this looks like a gRPC port; set protocol='grpc' (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
        elif protocol == "grpc" and "Failed parsing HTTP/2" in text:
            text = "the server does not speak HTTP/2 (Failed parsing HTTP/2)"
            hint = "this looks like an OTLP/HTTP port; set protocol='http/protobuf' or use the gRPC port"
        elif " 404" in text:
            hint = (
                "check the URL's path: endpoint= and OTEL_EXPORTER_OTLP_ENDPOINT take the base URL "
                "(/v1/traces is appended)"
            )
        if hint and not self.wrong_protocol and "port" in hint:
            self.wrong_protocol = True
            self._first = f"{text}; {hint}"
            self._exporter.abandon()
        elif not self._first:
            self._first = f"{text}; {hint}" if hint else text

    def secrets(self) -> Sequence[str]:
        return self._exporter.secrets

    def reason(self) -> str:
        what = self._first or "the exporter reported a failure"
        return f"export to {self._exporter.where()} failed ({what})"


class _ExportScope(logging.Filter):
    """On lazyotel's log funnel: what an exporter logs inside ``export()`` is the reason of a
    failure, reported (with the count of spans it cost) at exit, not a warning now.

    Also keeps the SDK's "Queue full" line quiet: the spans it drops are counted and reported.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scope = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        notes = getattr(self.scope, "current", None)
        queue_full = record.name.startswith("opentelemetry.sdk") and str(record.msg).startswith("Queue full")
        if notes is None and not queue_full:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break the export
            text = str(record.msg)
        if notes is not None:
            notes.note(text)
        secrets = notes.secrets() if notes is not None else ()
        _log.debug("%s: %s", record.name, _log.scrub_line(text, secrets))
        return False


_EXPORT_NOTES = _ExportScope()


#: How long activation waits for an exporter to be built. An import takes a fraction of a
#: second; only a broken factory (one that connects to a hung host, say) takes longer.
BUILD_TIMEOUT = 5.0


def _build(factory: Callable[[], Any], label: str) -> Any:
    """Call ``factory`` in a daemon thread and wait for it at most ``BUILD_TIMEOUT`` seconds.

    The command waits (the thread has the interpreter to itself), but never forever.
    """
    outcome = call_bounded(quiet_grpc(factory), BUILD_TIMEOUT, "exporter-build")
    if outcome is None:
        msg = f"the {label} exporter was not built within {BUILD_TIMEOUT:.0f} s"
        raise Unavailable(msg)
    built, value = outcome
    if not built:
        if isinstance(value, Exception):
            raise value
        # A BaseException from the factory's thread (asyncio.CancelledError, even SystemExit)
        # is that thread's fault, never a signal to this one: it must not end the command.
        msg = f"the {label} exporter factory raised {describe(value)}"
        raise Unavailable(msg)
    return value


def quiet_grpc(factory: Callable[[], Any]) -> Callable[[], Any]:
    """``factory``, run with grpc's native logging off if it is the first to import grpc.

    grpc's C core writes "Handshake failed", "Metadata key ... is invalid" and the like
    straight to stderr, past any logging configuration, and reads ``GRPC_VERBOSITY`` once,
    when grpc is first imported. So while lazyotel builds its exporter, and only if grpc is
    not imported yet and the user set neither ``GRPC_VERBOSITY`` nor ``GRPC_TRACE``, it is
    ``NONE``; then the variable is removed again, so the command's own subprocesses see
    the environment they would have seen.
    """

    def build() -> Any:
        if "grpc" in sys.modules or "GRPC_VERBOSITY" in os.environ or "GRPC_TRACE" in os.environ:
            return factory()
        os.environ["GRPC_VERBOSITY"] = "NONE"
        try:
            return factory()
        finally:
            os.environ.pop("GRPC_VERBOSITY", None)

    return build
