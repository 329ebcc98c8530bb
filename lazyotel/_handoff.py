"""Hand-off delivery, the command's side: keep finished spans, write them to the spool, start
the shipper.

``build(settings)`` decides whether hand-off can work here and returns the span processor (an
object with the SDK ``SpanProcessor`` methods; it imports no part of OpenTelemetry), or None
for inline delivery. The command never imports an exporter, ``requests``, ``urllib3``,
``grpc`` or ``google.protobuf``: spans leave as OTLP JSON files (``_otlpjson``) in the spool
(``_spool``), and ``python -m lazyotel ship`` (``_ship``), started detached, exports them.
"""

from __future__ import annotations

import _thread
import os
import sys
from time import monotonic as _monotonic

from . import _config, _log, _spool, _state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._config import Settings

#: A long command writes a file every this many spans, so it holds bounded memory...
WRITE_EVERY = 2048
#: ... and when a span ends this many seconds after the oldest one it holds was kept.
WRITE_AFTER = 30.0

#: The pids of the shippers this process started (reaped by ``_spool.running``, never waited for).
_started: list[int] = []


def delivery(settings: Settings) -> str:
    """``LAZYOTEL_DELIVERY``, else ``bootstrap(delivery=...)``, else ``handoff``."""
    raw = os.environ.get("LAZYOTEL_DELIVERY", "").strip().lower()
    if raw in _config.DELIVERIES:
        return raw
    if raw:
        _log.warn_once(
            "LAZYOTEL_DELIVERY=%r is not one of %s; ignoring it", raw, ", ".join(_config.DELIVERIES)
        )
    return settings.delivery or "handoff"


def _inline_reason(settings: Settings) -> str | None:
    """Why hand-off cannot work here, for the debug line ("": nothing to say), or None."""
    if delivery(settings) == "inline":
        return ""  # asked for
    if _state.STATE.mode != "on":
        return f"in {_state.STATE.mode} mode (no shipper is ever started there)"
    spec = _config.exporter_name(settings)
    if not isinstance(spec, str) or spec not in _config.OTLP_EXPORTERS:
        what = spec if isinstance(spec, str) else "an exporter object or factory"
        return f"(hand-off needs an OTLP exporter, not {what})"
    if not _spool.supported():
        return "(a frozen application or no flock: no shipper can start)"
    return None


def build(settings: Settings) -> HandoffProcessor | None:
    """The hand-off processor, or None where hand-off cannot work (then: inline).

    Inline, with one debug line: ``delivery="inline"``; an exporter object, factory or a
    non-OTLP exporter name (console: its output belongs in the command; an entry point:
    it cannot be rebuilt elsewhere); test mode (``lazyotel.testing.enabled()``); a frozen
    application or a platform without ``flock``; an endpoint with credentials in its URL
    (nothing secret is written to disk). With one warning: a spool that cannot be written.
    """
    reason = _inline_reason(settings)
    if reason is not None:
        if reason:
            _log.debug("delivery: inline %s", reason)
        return None
    spec = _config.exporter_name(settings)
    protocol = _config.OTLP_EXPORTERS[spec] or _config.otlp_protocol(settings.protocol)
    if protocol not in _config.PROTOCOLS or not _config.package_installed(
        _config._EXPORTER_PACKAGES[protocol][0]
    ):
        return None  # the inline path reports it (a missing package: one warning)
    from . import _endpoint

    try:
        endpoint = _endpoint.resolve_endpoint(settings.endpoint, protocol)
    except ValueError:
        return None  # reported by the inline path
    if _endpoint.display_url(endpoint.url) != endpoint.url:
        _log.debug("delivery: inline (the endpoint URL carries credentials; they are never written to disk)")
        return None
    if endpoint.warning:
        _log.warn_once("%s", endpoint.warning)
    return _processor(settings, endpoint.url, protocol, spill=False)


def _processor(settings: Settings, url: str, protocol: str, *, spill: bool) -> HandoffProcessor | None:
    directory = _spool.default_dir()
    if spill:
        # Inline delivery's spool is created when something is spilled, not before.
        if not _spool.creatable(directory):
            _log.debug("no spool for undelivered spans: %s cannot be created", directory)
            return None
    else:
        try:
            _spool.ensure(directory)
        except OSError as exc:
            _log.warn_once(
                "the spool %s cannot be written (%s): exporting from the command instead (delivery='inline')",
                directory,
                type(exc).__name__,
            )
            return None
    extra: dict[str, str] = {}
    if settings.headers:
        from urllib.parse import quote

        # Headers given in code reach the shipper through its environment, never the disk.
        extra["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = ",".join(
            f"{quote(k)}={quote(v)}" for k, v in settings.headers.items()
        )
    _log.debug("delivery: spans for %s (%s) go through the spool %s", url, protocol, directory)
    return HandoffProcessor(directory, url, protocol, extra)


def spill(settings: Settings, url: str, protocol: str) -> HandoffProcessor | None:
    """Inline delivery's spool for what it cannot deliver, or None where there can be none."""
    if _state.STATE.mode != "on" or not _spool.supported():
        return None
    from . import _endpoint

    if _endpoint.display_url(url) != url:
        return None  # credentials in the URL are never written to disk
    return _processor(settings, url, protocol, spill=True)


def _worker_process() -> bool:
    """Whether this is a ``multiprocessing`` worker (spawn, forkserver; fork is seen at fork)."""
    mp = sys.modules.get("multiprocessing.process")
    return mp is not None and getattr(mp, "_parent_process", None) is not None


class HandoffProcessor:
    """An SDK span processor (duck-typed: ``on_start``, ``on_end``, ``force_flush``,
    ``shutdown``) that keeps finished spans and writes them to the spool.

    A file is written at exit (``shutdown``), on ``lazyotel.flush()``, every ``WRITE_EVERY``
    spans, when a span ends ``WRITE_AFTER`` seconds after the oldest one held, and, in a forked
    or ``multiprocessing`` worker, whenever no span of the worker is open any more (a worker
    may be ended by ``os._exit`` or SIGTERM, where no exit hook runs).
    """

    def __init__(self, directory: str, endpoint: str, protocol: str, extra_env: dict[str, str]) -> None:
        self.directory = directory
        self.endpoint = endpoint
        self.protocol = protocol
        self.extra_env = extra_env
        self._spans: list[Any] = []
        self._lock = _thread.allocate_lock()
        self._closed = False
        self._open = 0  # spans started and not ended, counted in workers only
        self._since = 0.0  # when the oldest span held was kept (monotonic)
        self.worker = _worker_process()
        self.written = 0  # spans written to the spool
        self.lost = 0  # spans that could not be written
        if self.worker:
            self._finalize_in_worker()
        import weakref

        me = weakref.ref(self)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _forked(me()))
        import atexit

        # The bounded exit (lazyotel's own exit hook, which runs first) writes the file; this
        # one writes it where that hook could not run its helper thread (Python 3.12.0-3.12.1
        # refuse new threads at exit). Writing a file needs no thread and no deadline.
        atexit.register(_at_exit, me)

    # -- the SpanProcessor interface --------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.worker:
            with self._lock:
                self._open += 1

    def _on_ending(self, span: Any) -> None:
        pass  # the SDK's provider calls it on every processor (SDK >= 1.27)

    def on_end(self, span: Any) -> None:
        if self._closed:
            return
        with self._lock:
            self._spans.append(span)
            full = len(self._spans) >= WRITE_EVERY
            if len(self._spans) == 1:
                self._since = _monotonic()
            elif _monotonic() - self._since > WRITE_AFTER:
                full = True  # a long-running process: its spans do not wait for its exit
            if self.worker:
                # No span of this worker is open: its task is done (a forked worker's first
                # span has the parent's open span as its parent, so "root" would not do).
                self._open -= 1
                full = full or self._open <= 0
        if full:
            self._write(start=True)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._write(start=True)

    def keep(self, spans: Any) -> None:
        """Inline delivery's spill: spans it could not deliver, written at exit."""
        with self._lock:
            self._spans.extend(spans)
            full = len(self._spans) >= WRITE_EVERY
        if full:
            self._write(start=False)

    def shutdown(self) -> None:
        self._write(start=True, final=True)
        self._closed = True

    # -- writing ------------------------------------------------------------------------------

    def _write(self, *, start: bool, final: bool = False) -> bool:
        with self._lock:
            spans, self._spans = self._spans, []
        ok = True
        if spans:
            try:
                self._write_file(spans)
                self.written += len(spans)
            except Exception as exc:  # noqa: BLE001 - a full disk must not break the command
                ok = False
                self.lost += len(spans)
                _log.warn_once(
                    "%d spans could not be written to the spool %s (%s); they are lost",
                    len(spans),
                    self.directory,
                    type(exc).__name__
                    + (f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""),
                )
        if final or spans:
            self._report_counts()
        if start and (spans or final):
            self._start_shipper()
        return ok

    def _write_file(self, spans: list[Any]) -> None:
        import time

        from . import _otlpjson

        created = time.time_ns()
        data, count = _otlpjson.dumps(spans, self.endpoint, self.protocol, created)
        _spool.ensure(self.directory)  # inline delivery's spill creates it only now
        _spool.write(self.directory, data, count)
        _spool.enforce_caps(self.directory)

    def _report_counts(self) -> None:
        try:
            counts = _spool.take_unreported(self.directory)
        except Exception:  # noqa: BLE001
            return
        if counts:
            parts = []
            for name, why in (
                ("dropped", "dropped (the spool was over LAZYOTEL_SPOOL_MAX_BYTES)"),
                ("expired", "expired (older than LAZYOTEL_SPOOL_MAX_AGE)"),
                ("rejected", "rejected by the collector or unreadable"),
            ):
                if counts.get(name):
                    parts.append(f"{counts[name]:,} {why}")
            _log.warn_once(
                "spans were lost from the spool %s since the last report: %s; see python -m lazyotel spool",
                self.directory,
                "; ".join(parts),
            )

    def _start_shipper(self) -> None:
        for pid in _started:
            if _spool.running(pid):
                return  # ours still runs: it takes (or holds) the lock and rescans before exit
        _started[:] = []
        try:
            if _spool.files(self.directory):
                started = _spool.start_shipper(self.directory, self.extra_env)
                if started is not None:
                    _started.append(started)
        except Exception as exc:  # noqa: BLE001 - the next run starts one
            _log.debug("could not start the shipper (%s)", type(exc).__name__)

    # -- forks and workers -------------------------------------------------------------------

    def _finalize_in_worker(self) -> None:
        """A ``multiprocessing`` worker ends with ``os._exit``: flush in its finalizers."""
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            util.Finalize(None, self.force_flush, exitpriority=10)

    def after_fork(self) -> None:
        # The parent's spans are the parent's to write; the child starts empty.
        self._lock = _thread.allocate_lock()
        self._spans = []
        self._open = 0
        self.worker = True
        _started[:] = []
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            # multiprocessing clears its finalizers in a new worker, then runs these hooks.
            util.register_after_fork(self, HandoffProcessor._finalize_in_worker)


def _at_exit(ref: Any) -> None:
    processor = ref()
    if processor is not None and not processor._closed:
        processor.shutdown()


def _forked(processor: HandoffProcessor | None) -> None:
    if processor is not None:
        processor.after_fork()
