"""Settings: one table, from which every setting's checks, defaults and ways in are derived.

Each ``Setting`` row declares one ``bootstrap`` parameter: its name, default, checker, the
environment variable that stands in for it while it is unset (if one does), whether
``reconfigure`` may change it, and whether it also takes a callable resolved at activation.
``bootstrap``'s signature, ``reconfigure``'s keywords, ``Settings`` and ``apply`` follow the
table (a test holds ``bootstrap``'s signature to it). ``Settings`` only declares the types.

A leaf: imports only ``os`` and ``sys`` (both loaded by every interpreter before ``site``);
``_endpoint`` and ``urllib.parse`` inside the functions that need them.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, NoReturn, Union

    ExporterSpec = Union[str, Any, Callable[[], Any], None]
    CaptureSpec = Union[bool, Callable[[str, Any], bool]]
    Checker = Callable[[Any, "Problem"], Any]

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


# -- errors that name the call, the parameter and the value ----------------------------------------


class Problem:
    """Raises the error for one argument of ``lazyotel.<caller>(...)``, naming the value.

    For a callable given to ``bootstrap`` (resolved at activation) the value shown is what it
    returned: ``lazyotel.bootstrap(endpoint=<get_url>() -> 'ftp://x'): ...``.
    """

    __slots__ = ("env", "where")

    def __init__(self, caller: str, row: Setting, label: str | None = None) -> None:
        self.where = f"lazyotel.{caller}({row.name}=" + (f"<{label}>() -> " if label else "")
        self.env = row.env

    def bad_value(self, value: object, expected: str, fix: str = "") -> NoReturn:
        msg = f"{self.where}{value!r}): {expected}" + (f"; {fix}" if fix else "")
        raise ValueError(msg)

    def bad_type(self, value: object, expected: str) -> NoReturn:
        msg = f"{self.where}{value!r}): expected {expected}, got {type(value).__name__}"
        raise TypeError(msg)

    def bad_secret(self, error: type[Exception], text: str) -> NoReturn:
        """An error that must not show the value (header values are credentials)."""
        msg = f"{self.where}...): {text}"
        raise error(msg)


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


# -- the checkers: each returns the value to store, or raises through its Problem -------------------


def _string(value: object, problem: Problem, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        problem.bad_type(value, "a string" + (" or None" if optional else ""))
    return value


def _prefix(value: object, problem: Problem) -> str | None:
    return _string(value, problem, optional=False)


def _non_empty(fix: str | None = None, *, strip: bool = False) -> Checker:
    """A string or None, not blank; ``fix`` (default: "pass None to use <the variable>")."""

    def check(value: object, problem: Problem) -> str | None:
        text = _string(value, problem)
        if text is not None and not text.strip():
            problem.bad_value(value, "must not be empty", fix or f"pass None to use {problem.env}")
        return text.strip() if text is not None and strip else text

    return check


def _flag(value: object, problem: Problem) -> bool:
    if not isinstance(value, bool):
        problem.bad_type(value, "True or False")
    return value


def _capture(value: object, problem: Problem) -> object:
    if not isinstance(value, bool) and not callable(value):
        problem.bad_type(value, "True, False or a callable(name, value) -> bool")
    return value


def _mode(value: object, problem: Problem) -> str | None:
    if value is not None and value not in MODES:
        problem.bad_value(value, f"unknown mode; choose one of {_choices(MODES)} or None")
    return None if value == "auto" else value


def _protocol(value: object, problem: Problem) -> str | None:
    proto = _string(value, problem)
    if proto == "http/json":
        problem.bad_value(proto, "the Python OTLP exporters do not send JSON", "use 'http/protobuf'")
    if proto is not None and proto not in PROTOCOLS:
        problem.bad_value(proto, f"unknown protocol; choose one of {_choices(PROTOCOLS)}")
    return proto


#: How finished spans leave the command (see docs/delivery.md).
DELIVERIES = ("handoff", "inline")


def _delivery(value: object, problem: Problem) -> str | None:
    if value is not None and value not in DELIVERIES:
        problem.bad_value(value, f"unknown delivery; choose one of {_choices(DELIVERIES)} or None")
    return value


def _timeout(value: object, problem: Problem) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problem.bad_type(value, "a number of seconds")
    if not 0 <= value < float("inf"):
        problem.bad_value(value, "must be a finite number of seconds >= 0", "for example 1.0")
    return float(value)


def _headers(value: object, problem: Problem) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_headers(value, problem=problem)
    if not hasattr(value, "items"):
        problem.bad_type(value, "a mapping of str to str, or a 'k1=v1,k2=v2' string")
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            # Name the key only: a header value is often a secret.
            problem.bad_secret(TypeError, f"header {key!r} must map a str to a str")
        # gRPC metadata keys must be lower case (grpc rejects the call otherwise, and every span
        # is lost); HTTP header names are case-insensitive. The string form is lowered too.
        out[key.strip().lower()] = val
    return out


def parse_headers(raw: str, param: str | None = None, *, problem: Problem | None = None) -> dict[str, str]:
    """Parse the ``OTEL_EXPORTER_OTLP_HEADERS`` form ``k1=v1,k2=v2`` (values URL-encoded).

    A malformed item is skipped, or, given the ``bootstrap`` parameter (or the ``problem``) it
    came in, an error. Never logs or raises with a value in the message: header values are
    credentials.
    """
    from urllib.parse import unquote

    if param is not None and problem is None:
        problem = Problem("bootstrap", ROWS[param])

    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        key = unquote(key).strip().lower()
        if not sep or not key:
            if problem is not None:
                problem.bad_secret(ValueError, f"every item must be 'name=value'; item {len(out) + 1} is not")
            continue
        out[key] = unquote(val).strip()
    return out


def _exporter(value: object, problem: Problem) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in EXPORTERS:
            problem.bad_value(
                value,
                f"unknown exporter; choose one of {_choices(EXPORTERS)}, "
                "a SpanExporter object, or a callable that returns one",
            )
        # A missing exporter package is not checked here: it matters only when telemetry
        # starts (on mode), where it is one warning; raising from the CLI's import would kill
        # --help and defeat an operator's LAZYOTEL_MODE=off.
        return value
    if not callable(value) and not hasattr(value, "export"):  # a factory (a class too) or an exporter
        problem.bad_type(value, "an exporter name, a SpanExporter object or a factory")
    return value


def _strings(value: object, problem: Problem, expected: str) -> tuple[Any, ...]:
    """One string or an iterable of them, as a tuple (items checked by the caller)."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError:
        problem.bad_type(value, expected)


def _instrument(value: object, problem: Problem) -> tuple[str, ...]:
    names = _strings(value, problem, "a list of library names such as ['httpx']")
    for name in names:
        if not isinstance(name, str) or not is_name(name):
            problem.bad_value(
                name,
                "not a library name (letters, digits, '_', '-', '.')",
                "use the instrumentor's name, for example 'httpx' or 'requests'",
            )
    return names


def _redact(value: object, problem: Problem) -> tuple[str, ...]:
    patterns = _strings(value, problem, "a list of parameter names such as ['password', 'api_key']")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            problem.bad_value(pattern, "each pattern must be a non-empty string")
        if not any(char.isalnum() for char in pattern):  # names are matched by their words
            problem.bad_value(pattern, "each pattern must contain a letter or a digit")
    return patterns  # split into words (camelCase too) and lower-cased when matched


def _resource(value: object, problem: Problem) -> dict[str, Any] | None:
    if value is None:
        return None
    if not hasattr(value, "items"):
        problem.bad_type(value, "a mapping of attribute names to values")
    out = dict(value.items())
    for key in out:
        if not isinstance(key, str):
            problem.bad_type(key, "str keys")
    return out


# -- the table --------------------------------------------------------------------------------------


class Setting:
    """One row of ``TABLE``."""

    __slots__ = ("check", "default", "deferrable", "env", "exports", "name", "reconfigure")

    def __init__(
        self,
        name: str,
        default: object,
        check: Checker,
        *,
        env: str | None = None,
        reconfigure: bool = False,
        deferrable: bool = False,
        exports: bool | None = None,
    ) -> None:
        self.name, self.default, self.check, self.env = name, default, check, env
        self.reconfigure = reconfigure  # ``lazyotel.reconfigure`` may change it
        # It decides where spans go: a change after activation swaps the exporter. What
        # ``reconfigure`` may change does; ``delivery`` does too, though only ``bootstrap`` sets it.
        self.exports = reconfigure if exports is None else exports
        self.deferrable = deferrable  # also takes a callable, called once at activation


#: Every setting, in ``bootstrap``'s order. ``env``: the variable that stands in while unset.
TABLE = (
    Setting("service_name", None, _non_empty(), env="OTEL_SERVICE_NAME"),
    Setting("exporter", None, _exporter, env="OTEL_TRACES_EXPORTER", reconfigure=True),
    Setting(
        "endpoint",
        None,
        _non_empty(strip=True),
        env="OTEL_EXPORTER_OTLP_ENDPOINT",
        reconfigure=True,
        deferrable=True,
    ),
    Setting("protocol", None, _protocol, env="OTEL_EXPORTER_OTLP_PROTOCOL", reconfigure=True),
    Setting("headers", None, _headers, env="OTEL_EXPORTER_OTLP_HEADERS", reconfigure=True, deferrable=True),
    Setting("resource_attributes", None, _resource, env="OTEL_RESOURCE_ATTRIBUTES", deferrable=True),
    Setting("instrument", (), _instrument),
    Setting("flush_timeout", 1.0, _timeout, env="LAZYOTEL_FLUSH_TIMEOUT"),
    Setting("span_prefix", "cli.", _prefix),
    Setting("capture_args", True, _capture),
    Setting("redact", DEFAULT_REDACT, _redact),
    Setting("mode", None, _mode, env="LAZYOTEL_MODE"),
    Setting("ok_status", False, _flag),
    Setting("tracer_name", None, _non_empty("pass None to name each command's module")),
    Setting("subprocess_spans", False, _flag),
    Setting("delivery", None, _delivery, env="LAZYOTEL_DELIVERY", exports=True),
)
ROWS = {row.name: row for row in TABLE}

#: The settings that change where spans go (``reconfigure``'s keywords, and ``delivery``): a
#: change after activation swaps the exporter.
EXPORT_PARAMS = tuple(row.name for row in TABLE if row.exports)
#: The settings of the resource: a change after activation rebuilds it.
RESOURCE_PARAMS = ("service_name", "resource_attributes")


class Settings:
    """What ``bootstrap`` recorded (``TABLE``'s defaults until then). Unset values fall back to
    ``OTEL_*`` at activation. The annotations are the types; names and defaults are ``TABLE``'s."""

    service_name: str | None
    exporter: ExporterSpec
    endpoint: str | None
    protocol: str | None
    headers: dict[str, str] | None
    resource_attributes: dict[str, Any] | None
    instrument: tuple[str, ...]
    flush_timeout: float
    span_prefix: str
    capture_args: CaptureSpec
    redact: tuple[str, ...]
    mode: str | None
    ok_status: bool
    tracer_name: str | None
    subprocess_spans: bool  # a CLIENT span per child process (see _envcontext)
    delivery: str | None  # "handoff" | "inline"; None: LAZYOTEL_DELIVERY, else handoff
    #: Callables given for the deferrable settings, called once at activation.
    deferred: dict[str, Callable[[], Any]]

    __slots__ = (*ROWS, "deferred")

    def __init__(self) -> None:
        for row in TABLE:
            setattr(self, row.name, row.default)
        self.deferred = {}

    def restore(self, other: Settings) -> None:
        """Take every value of ``other``."""
        for name in ROWS:
            setattr(self, name, getattr(other, name))
        self.deferred = dict(other.deferred)

    def copy(self) -> Settings:
        new = Settings()
        new.restore(self)
        return new


SETTINGS = Settings()


# -- checking and storing ---------------------------------------------------------------------------


def apply(
    settings: Settings, changes: Mapping[str, Any], caller: str = "bootstrap", label: str | None = None
) -> list[str]:
    """Check ``changes`` (keywords of ``lazyotel.<caller>``) and store them on ``settings``;
    return the names that changed. All values are checked before any is stored, so a bad call
    changes nothing. ``label``: the callable that returned the values (see ``Problem``).
    """
    checked: dict[str, Any] = {}
    deferred = dict(settings.deferred)
    for name, value in changes.items():
        row = ROWS.get(name)
        if row is None:  # pragma: no cover - the signatures make this unreachable
            msg = f"lazyotel.{caller}() got an unexpected keyword argument {name!r}"
            raise TypeError(msg)
        if row.deferrable and callable(value) and not isinstance(value, str):
            # Known only at activation (a CLI's settings, slow to import): checked then.
            deferred[name] = value
            checked[name] = None
            continue
        deferred.pop(name, None)  # a plain value (reconfigure's too) wins over a callable
        checked[name] = row.check(value, Problem(caller, row, label))
    endpoint = checked.get("endpoint", settings.endpoint)
    if ("endpoint" in checked or "protocol" in checked) and endpoint is not None:
        from ._endpoint import display_url, endpoint_problem

        problem = endpoint_problem(endpoint, otlp_protocol(checked.get("protocol", settings.protocol)))
        if problem:
            Problem(caller, ROWS["endpoint"], label).bad_value(display_url(endpoint), problem)
    changed = [
        name
        for name, value in checked.items()
        if getattr(settings, name) != value or deferred.get(name) is not settings.deferred.get(name)
    ]
    for name, value in checked.items():
        setattr(settings, name, value)
    settings.deferred = deferred
    return changed


def resolve_deferred(settings: Settings) -> list[str]:
    """Call the deferred callables once, check each result like the plain argument, store it.

    Returns the names resolved. Raises ValueError (a callable that raised, or a bad result),
    naming the parameter and the callable, never a header value.
    """
    resolved = []
    for name, factory in list(settings.deferred.items()):
        label = getattr(factory, "__qualname__", None) or type(factory).__name__
        try:
            value = factory()
        except Exception as exc:  # noqa: BLE001 - reported as one warning by the caller
            text = "" if name == "headers" else f": {exc}"  # header values are credentials
            msg = f"lazyotel.bootstrap({name}=<{label}>) raised {type(exc).__name__}{text}"
            raise ValueError(msg) from None
        if callable(value) and not isinstance(value, str) and not hasattr(value, "items"):
            msg = f"lazyotel.bootstrap({name}=<{label}>) returned a callable; it must return the value"
            raise TypeError(msg)
        apply(settings, {name: value}, label=label)  # drops the callable: it is called once
        resolved.append(name)
    return resolved


# -- helpers the pipelines share ------------------------------------------------------------------


def package_installed(path: str) -> bool:
    """Whether a package directory exists on ``sys.path``, without importing its parents.

    ``importlib.util.find_spec("opentelemetry.exporter...")`` would import the
    ``opentelemetry`` namespace packages, which the start-up contract forbids.
    """
    return any(os.path.isdir(os.path.join(entry or ".", path)) for entry in sys.path)


def contrib_instrumentor_installed(module: str) -> bool:
    """Whether the contrib layout's instrumentor of ``module`` is installed: its entry point
    is called like the module, and it lives in ``opentelemetry/instrumentation/<module>``
    (looked for on disk: nothing imported, no entry-point scan)."""
    return package_installed(f"opentelemetry/instrumentation/{module}")


#: Where the environment names the OTLP protocol, the signal-specific variable first.
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def resource_attributes(settings: Settings) -> dict[str, Any]:
    """The resource attributes the arguments give (``service_name`` wins); the SDK's and the
    recorder's resource builders fill the rest from ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES``."""
    attributes: dict[str, Any] = dict(settings.resource_attributes or {})
    if settings.service_name is not None:
        attributes["service.name"] = settings.service_name
    return attributes


def exporter_name(settings: Settings) -> Any:
    """The exporter argument, else the first of ``OTEL_TRACES_EXPORTER``, else ``otlp``."""
    if settings.exporter is not None:
        return settings.exporter
    raw = os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")[0].strip().lower()
    return raw or "otlp"


#: The OTLP exporters by name, with the protocol each implies (None: ``otlp_protocol``). The
#: entry-point names (``OTEL_TRACES_EXPORTER=otlp_proto_http``) are built as ``otlp`` with that
#: protocol, so the endpoint rule, the collector probe and hand-off apply to them too.
OTLP_EXPORTERS: dict[str, str | None] = {
    "otlp": None,
    "otlp_proto_http": "http/protobuf",
    "otlp_proto_grpc": "grpc",
}


def otlp_protocol(explicit: str | None) -> str:
    """The argument, else the environment's protocol, else HTTP/protobuf (lower case; the
    environment's may name one lazyotel does not support: see ``PROTOCOLS``)."""
    named = next((os.environ[name] for name in PROTOCOL_VARIABLES if os.environ.get(name)), None)
    return (explicit or named or "http/protobuf").strip().lower()


def is_name(value: str) -> bool:
    """A distribution or module name: letters, digits, ``_``, ``-`` and ``.`` (no regex import)."""
    return bool(value) and value.replace("-", "_").replace(".", "_").isidentifier()
