"""The shipper: ``python -m lazyotel ship [--wait] [--spool DIR] [--timeout SECONDS]``.

One per spool (``ship.lock``, flock). Oldest file first, through the real OTLP exporters
built as lazyotel builds them in a command (so every ``OTEL_EXPORTER_OTLP_*`` variable keeps
its meaning; headers come from the environment, inherited from the command that started it):

- accepted: the file is deleted;
- transient failure (refused, timeout, 429/503...): kept; retried with back-off;
- permanent failure (HTTP 400, gRPC INVALID_ARGUMENT, a file it cannot read): moved to
  ``rejected/`` and its spans counted;
- a file of a newer format: left alone for a newer lazyotel.

It exits when the spool is empty, when every destination failed a few passes in a row (about
8 s of back-off), or after ``--timeout`` seconds (``LAZYOTEL_SHIP_TIMEOUT``, default 30), with
files left for the next run. Its log is ``ship.log`` in the spool (rotated
at 256 KiB), scrubbed of secrets as every lazyotel message is.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from . import _config, _endpoint, _log, _otlpjson, _spool

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_TIMEOUT = 30.0
LOG_BYTES = 256 * 1024
#: Failures the collector will answer the same way next time: the file is set aside.
PERMANENT = re.compile(r"batch code: 400\b|INVALID_ARGUMENT|Failed to encode|exceeds max_request_size")

#: Passes in a row that send nothing (every destination down) before the shipper gives up
#: until the next run: about 0.5 + 1 + 2 + 4 s of back-off.
IDLE_PASSES = 4

EXIT_OK = 0
EXIT_LEFT = 1  # --wait: files remain in the spool


def ship_timeout() -> float:
    raw = os.environ.get("LAZYOTEL_SHIP_TIMEOUT", "").strip()
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


# -- spans back from JSON ------------------------------------------------------------------


def decode(document: Mapping[str, Any]) -> list[Any]:
    """SDK ``ReadableSpan`` objects for a spool document (``_otlpjson.loads``).

    Raises:
        _otlpjson.FormatError: A field is missing or has the wrong shape.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
    from opentelemetry.trace.status import Status, StatusCode

    class SpooledSpan(ReadableSpan):
        """A span read back from the spool, with the dropped counts it was written with."""

        def __init__(self, dropped: tuple[int, int, int], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._dropped = dropped

        @property
        def dropped_attributes(self) -> int:
            return self._dropped[0]

        @property
        def dropped_events(self) -> int:
            return self._dropped[1]

        @property
        def dropped_links(self) -> int:
            return self._dropped[2]

    attrs = _otlpjson.attributes

    def span_context(
        trace_id: int, span_id: str, flags: int, text: str | None, *, remote: bool
    ) -> SpanContext:
        return SpanContext(
            trace_id,
            int(span_id, 16),
            is_remote=remote,
            trace_flags=TraceFlags(flags & 0xFF),
            trace_state=TraceState.from_header([text]) if text else TraceState(),
        )

    out: list[Any] = []
    try:
        for resource_spans in document["resourceSpans"]:
            raw_resource = resource_spans.get("resource") or {}
            resource = Resource(attrs(raw_resource.get("attributes")), resource_spans.get("schemaUrl"))
            for scope_spans in resource_spans.get("scopeSpans") or ():
                raw_scope = scope_spans.get("scope") or {}
                scope_args: list[Any] = [
                    raw_scope.get("name", ""),
                    raw_scope.get("version") or None,
                    scope_spans.get("schemaUrl") or None,
                ]
                scope_attributes = attrs(raw_scope.get("attributes"))
                if scope_attributes:  # opentelemetry-sdk < 1.23's scopes have no attributes
                    scope_args.append(scope_attributes)
                scope = InstrumentationScope(*scope_args)
                for raw in scope_spans.get("spans") or ():
                    flags = int(raw.get("flags", 0))
                    trace_id = int(raw["traceId"], 16)
                    context = span_context(
                        trace_id, raw["spanId"], flags, raw.get("traceState"), remote=False
                    )
                    parent = None
                    if raw.get("parentSpanId"):
                        parent = span_context(
                            trace_id, raw["parentSpanId"], flags, None, remote=bool(flags & 0x200)
                        )
                    events = [
                        Event(e.get("name", ""), attrs(e.get("attributes")), int(e.get("timeUnixNano", 0)))
                        for e in raw.get("events") or ()
                    ]
                    links = []
                    for link in raw.get("links") or ():
                        link_flags = int(link.get("flags", 0))
                        linked = span_context(
                            int(link["traceId"], 16),
                            link["spanId"],
                            link_flags,
                            link.get("traceState"),
                            remote=bool(link_flags & 0x200),
                        )
                        links.append(Link(linked, attrs(link.get("attributes"))))
                    raw_status = raw.get("status") or {}
                    status = Status(
                        StatusCode(int(raw_status.get("code", 0))), raw_status.get("message") or None
                    )
                    out.append(
                        SpooledSpan(
                            (
                                int(raw.get("droppedAttributesCount", 0)),
                                int(raw.get("droppedEventsCount", 0)),
                                int(raw.get("droppedLinksCount", 0)),
                            ),
                            name=raw["name"],
                            context=context,
                            parent=parent,
                            resource=resource,
                            attributes=attrs(raw.get("attributes")),
                            events=events,
                            links=links,
                            kind=SpanKind(int(raw.get("kind", 1)) - 1),
                            status=status,
                            start_time=int(raw["startTimeUnixNano"]),
                            end_time=int(raw["endTimeUnixNano"]),
                            instrumentation_scope=scope,
                        )
                    )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"malformed span ({type(exc).__name__}: {exc})"
        raise _otlpjson.FormatError(msg) from None
    return out


# -- exporting -----------------------------------------------------------------------------


class _Log:
    """The shipper's log lines, scrubbed of credentials as every lazyotel message is."""

    def info(self, msg: str, *args: object) -> None:
        _log._say(_log.logger(), 20, msg, args)

    def warning(self, msg: str, *args: object) -> None:
        _log._say(_log.logger(), 30, msg, args)


class Shipper:
    """Ships one spool's files; ``run()`` returns when it is empty or the time is up."""

    def __init__(self, directory: str, timeout: float, wait: bool) -> None:
        self.directory = directory
        self.deadline = time.monotonic() + timeout
        self.wait = wait
        self.exporters: dict[tuple[str, str], Any] = {}
        self.skipped: set[str] = set()  # files of a newer format
        self.down: set[tuple[str, str]] = set()  # destinations that failed in this pass
        self.sent = self.rejected = 0
        self.backoff = 0.5

    def _exporter(self, endpoint: str, protocol: str) -> Any:
        key = (endpoint, protocol)
        exporter = self.exporters.get(key)
        if exporter is None:
            from . import _exporters

            class Shipping(_exporters.GuardedExporter):
                """Remembers the reason of the last failure (the report keeps only the first)."""

                last_reason = ""

                def _fail(self, count: int, kind: str, reason: str, *, quiet: bool = False) -> None:
                    self.last_reason = reason
                    super()._fail(count, kind, reason, quiet=quiet)

            settings = _config.Settings()  # headers: the exporter reads its environment's
            address = _endpoint.probe_address(endpoint, protocol)
            if address is not None and _endpoint.proxy_in_use(protocol, endpoint, *address):
                address = None
            exporter = Shipping(
                _exporters._otlp_factory(settings, protocol, endpoint),
                endpoint,
                f"OTLP {protocol}",
                address=address,
                protocol=protocol,
                secrets=_log.header_values(settings.headers),
            )
            self.exporters[key] = exporter
        return exporter

    def ship(self, spool_file: _spool.SpoolFile) -> str:
        """Send one file: "sent", "rejected", "skipped" (newer format) or "transient" (kept; its
        destination is down for the rest of this pass)."""
        read = self._read(spool_file)
        if isinstance(read, str):
            return read
        return self._send(spool_file, *read)

    def _read(self, spool_file: _spool.SpoolFile) -> tuple[Mapping[str, Any], list[Any]] | str:
        """A file's document and spans, or its outcome where there is nothing to send."""
        log = _Log()
        try:
            with open(spool_file.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return "sent"  # cleared meanwhile
        try:
            document = _otlpjson.loads(data)
            spans = decode(document)
        except _otlpjson.NewerFormat as exc:
            self.skipped.add(spool_file.name)
            log.info("left %s for a newer lazyotel: %s", spool_file.name, exc)
            return "skipped"
        except _otlpjson.FormatError as exc:
            _spool.reject(spool_file, spool_file.spans)
            self.rejected += spool_file.spans
            log.warning("set %s aside in rejected/: %s", spool_file.name, exc)
            self._error(f"unreadable spool file: {exc}")
            return "rejected"
        return document, spans

    def _send(self, spool_file: _spool.SpoolFile, document: Mapping[str, Any], spans: list[Any]) -> str:
        """Export a file's spans to the destination it names; the outcome as ``ship`` says."""
        log = _Log()
        destination = document["lazyotel"]["destination"]
        protocol = str(destination.get("protocol") or "http/protobuf")
        if protocol not in _config.PROTOCOLS:
            _spool.reject(spool_file, len(spans))
            self.rejected += len(spans)
            self._error(f"unknown protocol {protocol!r}")
            return "rejected"
        key = (destination["endpoint"], protocol)
        if key in self.down:
            return "transient"  # failed a moment ago: its files keep their order
        exporter = self._exporter(*key)
        exporter.last_reason = ""
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = exporter.export(spans) if spans else SpanExportResult.SUCCESS
        if result is SpanExportResult.SUCCESS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool_file.path)
            self.sent += len(spans)
            log.info("sent %d spans from %s to %s", len(spans), spool_file.name, exporter.where())
            return "sent"
        reason = exporter.last_reason or "the exporter reported a failure"
        if PERMANENT.search(reason):
            _spool.reject(spool_file, len(spans))
            self.rejected += len(spans)
            log.warning(
                "the collector refused %s for good; set aside in rejected/: %s", spool_file.name, reason
            )
            self._error(reason)
            return "rejected"
        self.down.add(key)
        log.info("kept %s for later: %s", spool_file.name, reason)
        self._error(reason)
        return "transient"

    def _error(self, reason: str) -> None:
        def change(state: dict[str, Any]) -> None:
            state["last_error"] = _log.scrub(reason)[:300]
            state["last_error_ns"] = time.time_ns()

        with contextlib.suppress(OSError):
            _spool.update_state(self.directory, change)

    def _pending(self) -> list[_spool.SpoolFile]:
        return [f for f in _spool.files(self.directory) if f.name not in self.skipped]

    def run(self, lock: int) -> int:
        """Ship until the spool is empty or the time is up; returns with the lock released."""
        idle = 0  # passes in a row that sent nothing
        try:
            while True:
                _spool.enforce_caps(self.directory)
                pending = self._pending()
                if not pending:
                    # Release, then look once more: a command that wrote a file while we held
                    # the lock did not start a shipper, so it is ours to send.
                    os.close(lock)
                    lock = -1
                    if not self._pending():
                        return EXIT_OK
                    again = _take(self.directory, 0.5)
                    if again is None:
                        return EXIT_OK  # another shipper took over
                    lock = again
                    continue
                self.down = set()
                progress = False
                for spool_file in pending:
                    if time.monotonic() >= self.deadline:
                        return self._left()
                    progress = self.ship(spool_file) != "transient" or progress
                idle = 0 if progress else idle + 1
                if self._give_up(idle) or time.monotonic() >= self.deadline:
                    return self._left()
        finally:
            if lock >= 0:
                os.close(lock)
            for exporter in self.exporters.values():
                with contextlib.suppress(Exception):  # the process ends anyway
                    exporter.shutdown()

    def _give_up(self, idle: int) -> bool:
        """After a pass that left ``idle`` passes in a row without progress: whether to stop
        until the next run; else the pause, if any, before the next pass."""
        if idle >= IDLE_PASSES and not self.wait:  # --wait: as long as it was told
            # Every destination failed a few times running: the collectors are down.
            # The files wait for the next command's shipper; nothing lingers.
            return True
        if self.down:
            # A destination failed: its files wait (oldest first again) after a pause;
            # the other destinations' files went on meanwhile.
            pause = min(self.backoff, self.deadline - time.monotonic())
            self.backoff = min(self.backoff * 2, 8.0)
            if pause > 0:
                time.sleep(pause)
        else:
            self.backoff = 0.5
        return False

    def _left(self) -> int:
        left = self._pending()
        _Log().info("time is up; %d files left for the next run", len(left))
        return EXIT_LEFT if left else EXIT_OK


def _take(directory: str, patience: float) -> int | None:
    """The shipper lock, tried for up to ``patience`` seconds.

    A command (or ``lazyotel spool``) checks for a running shipper by taking the lock for an
    instant: only a lock held for a while means another shipper.
    """
    until = time.monotonic() + patience
    lock = _spool.try_lock(directory)
    while lock is None and time.monotonic() < until:
        time.sleep(0.02)
        lock = _spool.try_lock(directory)
    return lock


def _log_to_file(directory: str) -> None:
    import logging
    from logging.handlers import RotatingFileHandler

    log = _log.logger()
    try:
        handler = RotatingFileHandler(
            os.path.join(directory, _spool.LOG_NAME), maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8"
        )
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    with contextlib.suppress(OSError):
        os.chmod(handler.baseFilename, 0o600)


def main(directory: str | None, *, wait: bool, timeout: float | None) -> int:
    """``python -m lazyotel ship``: returns the exit code (1: ``--wait`` and files remain)."""
    directory = directory or _spool.default_dir()
    try:
        _spool.ensure(directory)
    except OSError as exc:
        print(f"lazyotel ship: the spool {directory} cannot be used ({exc})", file=sys.stderr)
        return 2
    if not wait:
        # Detached: lazyotel's records go to the log file only (stderr is /dev/null anyway).
        os.environ.setdefault("LAZYOTEL_LOG", "info")
    _log_to_file(directory)
    from . import _sdk

    _sdk.funnel_otel_logging()
    shipper = Shipper(directory, ship_timeout() if timeout is None else timeout, wait)
    lock = _take(directory, max(shipper.deadline - time.monotonic(), 0.0) if wait else 0.5)
    if lock is None:  # a shipper runs for this spool already
        return EXIT_LEFT if wait and _spool.files(directory) else EXIT_OK
    shipper.run(lock)
    left = len(_spool.files(directory))
    log = _Log()
    log.info("done: %d spans sent, %d rejected, %d files left", shipper.sent, shipper.rejected, left)
    if wait and left:
        say = f"lazyotel ship: {left} files left in {directory} (python -m lazyotel spool shows why)"
        print(say, file=sys.stderr)
        return EXIT_LEFT
    return EXIT_OK


def render_status(status: Mapping[str, Any]) -> str:
    def when(ns: Any) -> str:
        if not ns:
            return "-"
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(ns) / 1e9))

    lines = [
        f"spool          {status['spool']}{'' if status['exists'] else ' (not created yet)'}",
        f"pending        {status['files']} files, {status['spans']:,} spans, {status['bytes']:,} bytes",
        f"oldest         {when(status['oldest_ns'])}",
        f"shipper        {'running' if status['shipper_running'] else 'not running'}",
        f"lost           {status['dropped']:,} dropped (size cap), {status['expired']:,} expired (age cap), "
        f"{status['rejected']:,} rejected ({status['rejected_files']} files in rejected/)",
        f"last error     {status['last_error'] or '-'}"
        + (f" ({when(status['last_error_ns'])})" if status["last_error"] else ""),
    ]
    for where, spans in sorted(status["destinations"].items()):
        lines.append(f"destination    {where}: {spans:,} spans")
    return "\n".join(lines)


def spool_command(directory: str | None, *, as_json: bool, clear: bool) -> int:
    """``python -m lazyotel spool``."""
    directory = directory or _spool.default_dir()
    if clear:
        deleted = _spool.clear(directory) if os.path.isdir(directory) else 0
        print(f"lazyotel spool: deleted {deleted} files from {directory}", file=sys.stderr)
    status = _spool.status(directory)
    if as_json:
        import json

        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(render_status(status))
    return 0
