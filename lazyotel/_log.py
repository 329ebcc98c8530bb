"""lazyotel's voice: the ``lazyotel`` logger, the one warning, the funnel, the scrubber.

lazyotel says everything on the ``lazyotel`` logger: at most one warning per run, the rest at
debug level, never a credential. ``LAZYOTEL_LOG=debug`` turns the details on from the
environment (see ``logger``). A leaf: imports only ``os`` and ``sys`` at module level
(``logging`` and ``re`` when something is said).
"""

from __future__ import annotations

import os
import sys

from ._config import SETTINGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# -- logging, without importing ``logging`` until something is said ---------------------------

_warned = False
_log_ready = False

#: ``LAZYOTEL_LOG`` values: the ``lazyotel`` logger's level (the DEBUG switch, from outside).
LOG_LEVELS = ("debug", "info", "warning", "error")


def logger() -> Any:
    """The ``lazyotel`` logger, set up the first time lazyotel has something to say.

    ``LAZYOTEL_LOG=debug`` (or ``info``, ``warning``, ``error``) sets its level from the
    environment: the switch an operator needs to see every detail lazyotel only logs at debug
    level. When the application has configured no logging, records are printed to stderr as
    ``lazyotel: <message>`` (logging's own last resort would print the message unnamed, and
    only from WARNING up).
    """
    import logging

    log = logging.getLogger("lazyotel")
    if not _log_ready:
        _set_logger_up(log)
    return log


def _set_logger_up(log: Any) -> None:
    global _log_ready
    import logging

    _log_ready = True
    raw = os.environ.get("LAZYOTEL_LOG", "").strip().lower()
    level = logging.WARNING  # the level of logging's own last resort
    if raw in LOG_LEVELS:
        level = getattr(logging, raw.upper())
        log.setLevel(level)

    class LastResort(logging.Handler):
        """Prints lazyotel's records, named, only when no other handler would take them."""

        def emit(self, record: logging.LogRecord) -> None:
            try:
                if logging.lastResort is None or self._others():
                    return
                sys.stderr.write(self.format(record) + "\n")
                sys.stderr.flush()
            except Exception:  # noqa: BLE001, S110 - a log handler must never raise
                pass

        def _others(self) -> bool:
            current: logging.Logger | None = log
            while current is not None:
                if any(handler is not self for handler in current.handlers):
                    return True
                current = current.parent if current.propagate else None
            return False

    handler = LastResort(level)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log.addHandler(handler)
    if raw and raw not in LOG_LEVELS:
        warn_once("LAZYOTEL_LOG=%r is not one of %s; ignoring it", raw, ", ".join(LOG_LEVELS))


def warn_once(msg: str, *args: object) -> None:
    """The one warning a run may give; later ones go to debug so a CLI's stderr stays clean.

    Messages never start with "lazyotel:": the logger's name says who speaks. The text is
    scrubbed of credentials (see ``scrub``) before it is logged.
    """
    global _warned
    log = logger()
    if _warned:
        _say(log, 10, msg, args)
        return
    _warned = True
    _say(log, 30, msg, args)


#: ``LAZYOTEL_LOG`` values under which nothing can want a debug record before ``logging`` is
#: imported (another value is reported by the logger's set-up: it must run).
_QUIET = ("", "info", "warning", "error")


def debug(msg: str, *args: object) -> None:
    """Log at debug level on the ``lazyotel`` logger, scrubbed of credentials.

    Before anything has imported ``logging``, no handler or level can want the record unless
    ``LAZYOTEL_LOG=debug`` asks for it: then nothing is imported (``logging`` is a tenth of a
    traced command's cost, where the command itself never logs).
    """
    if "logging" not in sys.modules and os.environ.get("LAZYOTEL_LOG", "").strip().lower() in _QUIET:
        return
    _say(logger(), 10, msg, args)


def _say(log: Any, level: int, msg: str, args: tuple[object, ...]) -> None:
    if not log.isEnabledFor(level):
        return
    try:
        text = msg % args if args else msg
    except (TypeError, ValueError):
        text = " ".join([msg, *map(str, args)])
    log.log(level, scrub(text), stacklevel=3)  # no arguments: a "%" in the text stays as is


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without credentials: header values, a URL's user info and query string.

    Every line lazyotel logs passes here, its own and those it funnels from OpenTelemetry and
    the exporter's transports (urllib3, requests, grpc). Header values are those configured
    (``headers=``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TRACES_HEADERS``) and
    ``secrets`` (an exporter's own, which a later ``reconfigure`` may have replaced), in every
    form a message may quote them; ``Bearer``/``Basic`` credentials are cut too.
    """
    import re

    found = _forms(header_values(SETTINGS.headers), _MIN_SECRET) | _forms(secrets, _MIN_GIVEN)
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    text = re.sub(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]*@", r"\1", text)  # user:password@
    text = re.sub(r"\?[\w.~%+\-\[\]]*=[^\s'\"<>)]*", "?[REDACTED]", text)  # ?api_key=...
    return re.sub(r"(?i)\b(bearer|basic)(\s+|%20)[^\s'\",;]+", r"\1 [REDACTED]", text)


def scrub_line(text: str, secrets: Sequence[str] = ()) -> str:
    """``text``'s first line, scrubbed (see ``scrub``) and capped, and cut after "header value:"
    (requests and urllib3 quote a rejected header whole)."""
    import re

    line = scrub(text.splitlines()[0] if text else "", secrets)
    line = re.sub(r"(header value:?\s*).*", r"\1[REDACTED]", line, flags=re.IGNORECASE)
    return line if len(line) <= 300 else line[:300] + "..."


#: A configured header value shorter than this is not treated as a secret ("x-tenant=7"); an
#: exporter's own ``secrets`` (it sends them) from 3 characters on.
_MIN_SECRET, _MIN_GIVEN = 4, 3


def header_values(headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """Every header value an exporter may send, ``headers`` and the environment's: never to be
    shown. The environment's decoded and as written (a malformed item whole)."""
    from urllib.parse import unquote

    values: list[str] = list((headers or {}).values())
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for item in os.environ.get(name, "").split(","):
            _, sep, value = item.partition("=")
            values.extend((value, unquote(value)) if sep else (item,))
    return tuple(value for value in values if value.strip())


def _forms(values: Sequence[str], minimum: int) -> set[str]:
    """The values in every form messages quote them (stripped, repr, a "Bearer" token alone)."""
    found: set[str] = set()
    for value in values:
        words = value.split()
        forms = {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1]}
        forms.update(words[1:])  # "Bearer <token>": the token alone
        found.update(form for form in forms if len(form.strip()) >= minimum)
    return found


def funnel_record(record: Any, *, quiet: bool = False) -> None:
    """Say what OpenTelemetry or the exporter's transport logged, as lazyotel, with no secret.

    A warning or worse becomes the run's one warning (its first line, cut short) unless
    ``quiet``; anything else, and every detail, goes to debug (``LAZYOTEL_LOG=debug``).
    Never raises.
    """
    try:
        name = str(record.name)
        if name.startswith("opentelemetry.util.re"):
            # It quotes a malformed OTEL_EXPORTER_OTLP_HEADERS item, credentials included.
            text = "malformed header in OTEL_EXPORTER_OTLP_HEADERS"
        else:
            text = scrub(record.getMessage())
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            text += f" ({type(exc).__name__}: {scrub(detail)})" if detail else f" ({type(exc).__name__})"
        log = logger()
        if record.levelno >= 30 and not quiet and not log.isEnabledFor(10):
            source = "OpenTelemetry" if name.startswith("opentelemetry") else name.partition(".")[0]
            first = (text.splitlines() or [""])[0]
            warn_once(
                "%s reported a problem (%s); the command is not affected. Set LAZYOTEL_LOG=debug for details",
                source,
                first[:120] + ("..." if len(first) > 120 else ""),
            )
        else:
            debug("%s: %s", name, text)
    except Exception:  # noqa: BLE001, S110 - called from log handlers, which must never raise
        pass


_funnel_handlers: dict[tuple[bool, bool], Any] = {}


def funnel_handler(*, quiet: bool = False, temporary: bool = False) -> Any:
    """A ``logging.Handler`` that passes every record it gets to ``funnel_record``.

    The permanent one is installed while lazyotel owns the export; ``temporary`` ones only
    for a block (see ``funnelled``), and never where a funnel is installed already.
    """
    handler = _funnel_handlers.get((quiet, temporary))
    if handler is None:
        import logging

        class Funnel(logging.Handler):
            lazyotel_funnel = True

            def emit(self, record: logging.LogRecord) -> None:
                funnel_record(record, quiet=quiet)

        handler = _funnel_handlers[quiet, temporary] = Funnel()
    return handler


class _Funnelled:
    """While open, what the named loggers say goes through ``funnel_record`` only."""

    def __init__(self, names: tuple[str, ...], quiet: bool) -> None:
        self._names = names
        self._handler = funnel_handler(quiet=quiet, temporary=True)
        self._saved: list[tuple[Any, bool]] = []

    def __enter__(self) -> None:
        import logging

        for name in self._names:
            log = logging.getLogger(name)
            if not any(getattr(handler, "lazyotel_funnel", False) for handler in log.handlers):
                self._saved.append((log, log.propagate))
                log.addHandler(self._handler)
                log.propagate = False

    def __exit__(self, *exc_info: object) -> None:
        for log, propagate in self._saved:
            log.removeHandler(self._handler)
            log.propagate = propagate
        self._saved = []


def quiet_otel_import() -> Any:
    """A context manager around lazyotel's imports of OpenTelemetry.

    The API logs at import time, before any funnel exists: a malformed ``OTEL_PYTHON_CONTEXT``
    prints "Failed to load context" with a traceback from ``opentelemetry.context``. Inside
    this block what any ``opentelemetry.*`` logger says becomes lazyotel's one warning instead.
    """
    return _Funnelled(("opentelemetry",), quiet=False)


def funnelled(*names: str, quiet: bool = False) -> Any:
    """A context manager: what the loggers ``names`` say inside it goes to ``funnel_record``."""
    return _Funnelled(names, quiet)


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a telemetry fault."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fault(exc: BaseException) -> None:
    """A command span could not be recorded: one warning, and the command runs on."""
    warn_once("a command span could not be recorded (%s); the command is not affected", describe(exc))


def reset() -> None:
    """Open the one-warning latch again (for ``lazyotel.testing.reset``)."""
    global _warned
    _warned = False


# -- loggers lazyotel takes over while it owns telemetry ----------------------------------------

#: (logger, the handler lazyotel added, its ``propagate`` before): what ``give_back`` undoes.
_TAKEN: list[tuple[Any, Any, bool]] = []


def take_over(log: Any, handler: Any) -> None:
    """What ``log`` says goes to ``handler`` only, until ``give_back``."""
    _TAKEN.append((log, handler, log.propagate))
    log.addHandler(handler)
    log.propagate = False


def funnel_opentelemetry() -> Any:
    """OpenTelemetry's loggers speak through the funnel (the SDK's, the exporters', the API's
    under lazyotel's recorder): a warning becomes the one warning. Returns the funnel."""
    import logging

    logger()  # set up now: a bad LAZYOTEL_LOG is reported even if nothing else is said
    otel = logging.getLogger("opentelemetry")
    funnel = funnel_handler()
    if funnel not in otel.handlers:
        take_over(otel, funnel)
    return funnel


def give_back() -> None:
    """Undo every ``take_over`` (``lazyotel.testing.reset``)."""
    while _TAKEN:
        log, handler, propagate = _TAKEN.pop()
        log.removeHandler(handler)
        log.propagate = propagate
