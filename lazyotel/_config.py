"""Configuration: ``bootstrap`` arguments and ``OTEL_*`` variables -> settings; the mode; logging.

lazyotel says everything on the ``lazyotel`` logger: at most one warning per run, the rest at
debug level, never a credential. ``LAZYOTEL_LOG=debug`` turns the details on from the
environment (see ``logger``).

Import cost is part of the contract: this module imports only ``os`` and ``sys``
(both loaded by every interpreter before ``site``). Everything else is imported
inside the function that needs it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, NoReturn, Union

    ExporterSpec = Union[str, Any, Callable[[], Any], None]
    CaptureSpec = Union[bool, Callable[[str, Any], bool]]

MODES = ("on", "off", "test", "auto")
EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("http/protobuf", "grpc")

#: Names whose values are never captured, matched by name parts (see ``lazyotel._redact``):
#: ``api_key`` hides ``x-api-key`` and ``apiKey``; ``token`` hides ``auth_tokens`` but not
#: ``tokenizer``; ``auth`` not ``author``; nothing hides ``session_count`` or ``max_tokens``.
DEFAULT_REDACT = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "auth",
    "authorization",
    "credential",
    "cookie",
    "session",
)

# The package each exporter needs, and the extra that installs it.
_EXPORTER_PACKAGES = {
    "http/protobuf": ("opentelemetry/exporter/otlp/proto/http", "otlp"),
    "grpc": ("opentelemetry/exporter/otlp/proto/grpc", "grpc"),
}


class Settings:
    """What ``bootstrap`` recorded. Unset values fall back to ``OTEL_*`` at activation."""

    __slots__ = (
        "capture_args",
        "delivery",
        "endpoint",
        "exporter",
        "flush_timeout",
        "headers",
        "instrument",
        "mode",
        "ok_status",
        "protocol",
        "redact",
        "resource_attributes",
        "service_name",
        "span_prefix",
        "tracer_name",
    )

    def __init__(self) -> None:
        self.service_name: str | None = None
        self.exporter: ExporterSpec = None
        self.endpoint: str | None = None
        self.protocol: str | None = None
        self.headers: dict[str, str] | None = None
        self.resource_attributes: dict[str, Any] | None = None
        self.instrument: tuple[str, ...] = ()
        self.flush_timeout: float = 1.0
        self.span_prefix: str = "cli."
        self.capture_args: CaptureSpec = True
        self.redact: tuple[str, ...] = DEFAULT_REDACT
        self.mode: str | None = None
        self.ok_status: bool = False
        self.tracer_name: str | None = None
        self.delivery: str | None = None  # "handoff" | "inline"; None: handoff (see _handoff)

    def copy(self) -> Settings:
        new = Settings()
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        return new

    def effective_flush_timeout(self) -> float:
        """``LAZYOTEL_FLUSH_TIMEOUT`` wins over the argument; a malformed value is ignored."""
        raw = os.environ.get("LAZYOTEL_FLUSH_TIMEOUT", "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if 0 <= value < float("inf"):
                return value
            warn_once(
                "LAZYOTEL_FLUSH_TIMEOUT=%r is not a number of seconds >= 0; using %s",
                raw,
                self.flush_timeout,
            )
        return self.flush_timeout


class State:
    """The per-call switch. ``bypass`` is the only thing a bypassed call reads."""

    __slots__ = ("bypass", "closed", "forced", "mode", "real", "resolved")

    def __init__(self) -> None:
        self.bypass = False  # True only once the mode is known to be off or test
        self.resolved = False
        self.mode = "on"
        self.forced = 0  # > 0 while lazyotel.testing turns tracing on inside a test
        self.closed = False  # after shutdown() or a failed activation: untraced for the run
        self.real = False  # lazyotel.testing.enabled(): build the real pipeline despite the mode


SETTINGS = Settings()
STATE = State()


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


def debug(msg: str, *args: object) -> None:
    """Log at debug level on the ``lazyotel`` logger, scrubbed of credentials."""
    _say(logger(), 10, msg, args)


def _say(log: Any, level: int, msg: str, args: tuple[object, ...]) -> None:
    if not log.isEnabledFor(level):
        return
    try:
        text = msg % args if args else msg
    except (TypeError, ValueError):
        text = " ".join([msg, *map(str, args)])
    log.log(level, scrub(text), stacklevel=3)  # no arguments: a "%" in the text stays as is


def scrub(text: str) -> str:
    """``text`` without credentials: header values, a URL's user info and query string.

    Every line lazyotel logs passes here, its own and those it funnels from OpenTelemetry and
    the exporter's transports (urllib3, requests, grpc). Header values are those configured
    (``headers=``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TRACES_HEADERS``),
    in every form a message may quote them; ``Bearer``/``Basic`` credentials are cut too.
    """
    import re

    for secret in sorted(_secrets(), key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    text = re.sub(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]*@", r"\1", text)  # user:password@
    text = re.sub(r"\?[\w.~%+\-\[\]]*=[^\s'\"<>)]*", "?[REDACTED]", text)  # ?api_key=...
    return re.sub(r"(?i)\b(bearer|basic)(\s+|%20)[^\s'\",;]+", r"\1 [REDACTED]", text)


#: A header value shorter than this is not treated as a secret ("x-tenant=7").
_MIN_SECRET = 4


def _secrets() -> set[str]:
    """The configured header values, raw and in the forms messages quote them (repr, stripped)."""
    from urllib.parse import unquote

    values: list[str] = list((SETTINGS.headers or {}).values())
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for item in os.environ.get(name, "").split(","):
            _, sep, value = item.partition("=")
            values.extend((value, unquote(value)) if sep else (item,))  # a malformed item whole
    found: set[str] = set()
    for value in values:
        words = value.split()
        forms = {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1]}
        forms.update(words[1:])  # "Bearer <token>": the token alone
        found.update(form for form in forms if len(form.strip()) >= _MIN_SECRET)
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


# -- mode ---------------------------------------------------------------------------------------


def under_pytest() -> bool:
    """True in a pytest process and in the processes it starts.

    pytest >= 8.2 sets ``PYTEST_VERSION`` for the whole session (before plugins and conftests
    load, so collection is covered) and every version sets ``PYTEST_CURRENT_TEST`` per test
    phase; children inherit both. ``_pytest.main`` covers older pytest during collection.
    """
    env = os.environ
    return "PYTEST_VERSION" in env or "PYTEST_CURRENT_TEST" in env or "_pytest.main" in sys.modules


def resolve_mode() -> str:
    """Environment first (operators can always switch telemetry off), then code, then auto."""
    env = os.environ
    raw = env.get("LAZYOTEL_MODE", "").strip().lower()
    if raw in ("on", "off", "test"):
        return raw
    if raw not in ("", "auto"):
        warn_once("LAZYOTEL_MODE=%r is not one of on, off, test, auto; ignoring it", raw)
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return "off"
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return "off"
    if SETTINGS.mode in ("on", "off", "test"):
        return SETTINGS.mode
    return "test" if under_pytest() else "on"


def refresh() -> bool:
    """Recompute the cached mode and the bypass switch; return ``bypass``."""
    STATE.mode = resolve_mode()
    STATE.resolved = True
    STATE.bypass = STATE.closed or (STATE.mode != "on" and not STATE.forced)
    return STATE.bypass


def invalidate() -> None:
    """Forget the cached mode: the next traced call resolves it again."""
    STATE.resolved = False
    STATE.bypass = False


def mode() -> str:
    """Return the mode in force: ``"on"``, ``"off"`` or ``"test"``.

    The decision is cached after the first traced call (so a bypassed call pays one bool
    check); ``bootstrap(mode=...)`` and ``lazyotel.testing.reset()`` recompute it.
    """
    if not STATE.resolved:
        refresh()
    return STATE.mode


# -- validation -----------------------------------------------------------------------------------


def _fail(param: str, value: object, expected: str, fix: str = "") -> NoReturn:
    msg = f"lazyotel.bootstrap({param}={value!r}): {expected}"
    if fix:
        msg += f"; {fix}"
    raise ValueError(msg)


def _type_fail(param: str, value: object, expected: str) -> NoReturn:
    msg = f"lazyotel.bootstrap({param}={value!r}): expected {expected}, got {type(value).__name__}"
    raise TypeError(msg)


def _choices(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def package_installed(path: str) -> bool:
    """Whether a package directory exists on ``sys.path``, without importing its parents.

    ``importlib.util.find_spec("opentelemetry.exporter...")`` would import the
    ``opentelemetry`` namespace packages, which the start-up contract forbids.
    """
    return any(os.path.isdir(os.path.join(entry or ".", path)) for entry in sys.path)


#: Where the environment names the OTLP protocol, the signal-specific variable first.
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def env_protocol() -> str | None:
    """The OTLP protocol the environment names, if any."""
    return next((os.environ[name] for name in PROTOCOL_VARIABLES if os.environ.get(name)), None)


def otlp_protocol(explicit: str | None) -> str:
    """The argument, else the environment's protocol, else HTTP/protobuf."""
    return (explicit or env_protocol() or "http/protobuf").strip().lower()


def is_name(value: str) -> bool:
    """A distribution or module name: letters, digits, ``_``, ``-`` and ``.`` (no regex import)."""
    return bool(value) and value.replace("-", "_").replace(".", "_").isidentifier()


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _type_fail("flush_timeout", value, "a number of seconds")
    if not 0 <= value < float("inf"):
        _fail("flush_timeout", value, "must be a finite number of seconds >= 0", "for example 1.0")
    return float(value)


def _check_str(param: str, value: object, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        _type_fail(param, value, "a string" + (" or None" if optional else ""))
    return value


def _check_headers(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_headers(value, param="headers")
    if not hasattr(value, "items"):
        _type_fail("headers", value, "a mapping of str to str, or a 'k1=v1,k2=v2' string")
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            # Name the key only: a header value is often a secret.
            msg = f"lazyotel.bootstrap(headers=...): header {key!r} must map a str to a str"
            raise TypeError(msg)
        # gRPC metadata keys must be lower case (grpc rejects the call otherwise, and every span
        # is lost); HTTP header names are case-insensitive. The string form is lowered too.
        out[key.strip().lower()] = val
    return out


def parse_headers(raw: str, *, param: str | None = None) -> dict[str, str]:
    """Parse the ``OTEL_EXPORTER_OTLP_HEADERS`` form ``k1=v1,k2=v2`` (values URL-encoded).

    Never logs or raises with a value in the message: header values are credentials.
    """
    from urllib.parse import unquote

    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key:
            if param:
                msg = (
                    f"lazyotel.bootstrap({param}=...): every item must be 'name=value'; "
                    f"item {len(out) + 1} is not"
                )
                raise ValueError(msg)
            continue
        out[key] = unquote(val).strip()
    return out


def _check_exporter(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in EXPORTERS:
            _fail(
                "exporter",
                value,
                f"unknown exporter; choose one of {_choices(EXPORTERS)}, "
                "a SpanExporter object, or a callable that returns one",
            )
        # A missing exporter package is not checked here: it matters only when telemetry
        # starts (on mode), where it is one warning; raising from the CLI's import would kill
        # --help and defeat an operator's LAZYOTEL_MODE=off.
        return value
    if callable(value) or hasattr(value, "export"):  # a factory (a class too) or an exporter
        return value
    _type_fail("exporter", value, "an exporter name, a SpanExporter object or a factory")


def _strings(param: str, value: object, expected: str) -> tuple[Any, ...]:
    """One string or an iterable of them, as a tuple (items checked by the caller)."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        _type_fail(param, value, expected)


def _check_instrument(value: object) -> tuple[str, ...]:
    names = _strings("instrument", value, "a list of library names such as ['httpx']")
    for name in names:
        if not isinstance(name, str) or not is_name(name):
            _fail(
                "instrument",
                name,
                "not a library name (letters, digits, '_', '-', '.')",
                "use the instrumentor's name, for example 'httpx' or 'requests'",
            )
    return names


def _check_redact(value: object) -> tuple[str, ...]:
    patterns = _strings("redact", value, "a list of parameter names such as ['password', 'api_key']")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            _fail("redact", pattern, "each pattern must be a non-empty string")
        if not any(char.isalnum() for char in pattern):  # names are matched by their words
            _fail("redact", pattern, "each pattern must contain a letter or a digit")
    return tuple(patterns)  # split into words (camelCase too) and lower-cased when matched


def _check_endpoint(value: object) -> str | None:
    endpoint = _check_str("endpoint", value)
    if endpoint is not None:
        endpoint = endpoint.strip()
        if not endpoint:
            _fail("endpoint", value, "must not be empty", "pass None to use OTEL_EXPORTER_OTLP_ENDPOINT")
    return endpoint


def _check_resource(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not hasattr(value, "items"):
        _type_fail("resource_attributes", value, "a mapping of attribute names to values")
    out = dict(value.items())
    for key in out:
        if not isinstance(key, str):
            _type_fail("resource_attributes", key, "str keys")
    return out


# The parameters that change what is exported; a change after activation swaps the exporter.
EXPORT_PARAMS = ("exporter", "endpoint", "protocol", "headers", "delivery")
RESOURCE_PARAMS = ("service_name", "resource_attributes")


def apply(settings: Settings, changes: Mapping[str, Any]) -> list[str]:
    """Validate ``changes`` and store them on ``settings``; return the names that changed.

    All values are checked before any is stored, so a bad call changes nothing.
    """
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "service_name":
            service = _check_str(name, value)
            if service is not None and not service.strip():
                _fail(name, value, "must not be empty", "pass None to use OTEL_SERVICE_NAME")
            checked[name] = service
        elif name == "exporter":
            checked[name] = _check_exporter(value)
        elif name == "endpoint":
            checked[name] = _check_endpoint(value)
        elif name == "protocol":
            proto = _check_str(name, value)
            if proto == "http/json":
                _fail(name, proto, "the Python OTLP exporters do not send JSON", "use 'http/protobuf'")
            if proto is not None and proto not in PROTOCOLS:
                _fail(name, proto, f"unknown protocol; choose one of {_choices(PROTOCOLS)}")
            checked[name] = proto
        elif name == "headers":
            checked[name] = _check_headers(value)
        elif name == "resource_attributes":
            checked[name] = _check_resource(value)
        elif name == "instrument":
            checked[name] = _check_instrument(value)
        elif name == "flush_timeout":
            checked[name] = _check_timeout(value)
        elif name == "span_prefix":
            checked[name] = _check_str(name, value, optional=False)
        elif name == "capture_args":
            if not isinstance(value, bool) and not callable(value):
                _type_fail(name, value, "True, False or a callable(name, value) -> bool")
            checked[name] = value
        elif name == "redact":
            checked[name] = _check_redact(value)
        elif name == "mode":
            if value is not None and value not in MODES:
                _fail(name, value, f"unknown mode; choose one of {_choices(MODES)} or None")
            checked[name] = None if value == "auto" else value
        elif name == "ok_status":
            if not isinstance(value, bool):
                _type_fail(name, value, "True or False")
            checked[name] = value
        elif name == "tracer_name":
            scope = _check_str(name, value)
            if scope is not None and not scope.strip():
                _fail(name, value, "must not be empty", "pass None to name each command's module")
            checked[name] = scope
        elif name == "delivery":
            if value is not None and value not in ("handoff", "inline"):
                _fail(name, value, "unknown delivery; choose 'handoff', 'inline' or None")
            checked[name] = value
        else:  # pragma: no cover - the signatures make this unreachable
            msg = f"lazyotel.bootstrap() got an unexpected keyword argument {name!r}"
            raise TypeError(msg)
    if "endpoint" in checked or "protocol" in checked:
        endpoint = checked.get("endpoint", settings.endpoint)
        if endpoint is not None:
            from ._endpoint import display_url, endpoint_problem

            problem = endpoint_problem(endpoint, otlp_protocol(checked.get("protocol", settings.protocol)))
            if problem:
                _fail("endpoint", display_url(endpoint), problem)
    changed = [name for name, value in checked.items() if getattr(settings, name) != value]
    for name, value in checked.items():
        setattr(settings, name, value)
    return changed


def reset() -> None:
    """Forget every setting, the mode cache and the one-warning latch (for ``testing.reset``)."""
    global _warned
    fresh = Settings()
    for name in Settings.__slots__:
        setattr(SETTINGS, name, getattr(fresh, name))
    STATE.forced = 0
    STATE.closed = STATE.real = False
    invalidate()
    _warned = False
