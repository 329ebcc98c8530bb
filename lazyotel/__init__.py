"""OpenTelemetry tracing for command-line tools, at no start-up cost and safe in test suites.

``import lazyotel``, ``lazyotel.bootstrap(...)``, decorating commands and
``lazyotel.get_tracer(...)`` import nothing from OpenTelemetry: the SDK is imported and the
provider built on the first span that is really made. See ``lazyotel.bootstrap``.
"""

from __future__ import annotations

from . import _config, _provider
from ._config import mode
from ._decorator import trace_command
from ._provider import flush, get_tracer, shutdown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, NoReturn, Union

    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.util.types import AttributeValue

    from ._config import CaptureSpec

    #: ``exporter=``: a name, an exporter object, or a factory that returns one.
    ExporterSpec = Union[str, SpanExporter, Callable[[], SpanExporter], None]

    __version__: str

__all__ = [
    "__version__",
    "bootstrap",
    "flush",
    "get_tracer",
    "mode",
    "reconfigure",
    "shutdown",
    "trace_command",
]

_UNSET: Any = object()


def __getattr__(name: str) -> str:
    # The version lives in one place, _version.py (hatch reads it too); served on first use so
    # ``import lazyotel`` does not pay for it.
    if name == "__version__":
        from ._version import __version__

        return __version__
    msg = f"module 'lazyotel' has no attribute {name!r}"
    raise AttributeError(msg)


_BOOTSTRAP_PARAMS = (
    "service_name",
    "exporter",
    "endpoint",
    "protocol",
    "headers",
    "resource_attributes",
    "instrument",
    "flush_timeout",
    "span_prefix",
    "capture_args",
    "redact",
    "mode",
)


def _unknown_keywords(func: str, unknown: Mapping[str, object], valid: Iterable[str]) -> NoReturn:
    import difflib

    name = sorted(unknown)[0]
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keywords: {', '.join(valid)}"
    msg = f"lazyotel.{func}() got an unexpected keyword argument {name!r}{hint}"
    raise TypeError(msg)


def bootstrap(
    service_name: str | None = None,
    *,
    exporter: ExporterSpec = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
    instrument: Iterable[str] = (),
    flush_timeout: float = 1.0,
    span_prefix: str = "cli.",
    capture_args: CaptureSpec = True,
    redact: Iterable[str] = _config.DEFAULT_REDACT,
    mode: str | None = None,
    **unknown: NoReturn,
) -> None:
    """Record how telemetry should run; import nothing and start nothing.

    Call it once at the top of a CLI's entry module. Telemetry starts on the first span that
    is really made (the first traced command, in ``on`` mode). Calling it again replaces the
    configuration (arguments not given take their defaults): before that span it only
    records it; after, it reconfigures the running pipeline (see ``reconfigure``, which
    changes only the keywords it is given). Arguments left at ``None`` fall back to the standard ``OTEL_*``
    environment variables.

    Args:
        service_name: ``service.name`` of the resource (else ``OTEL_SERVICE_NAME``).
        exporter: ``"otlp"``, ``"console"``, ``"none"``, a ``SpanExporter`` object or a
            callable that returns one (else ``OTEL_TRACES_EXPORTER``, else ``"otlp"``).
        endpoint: The collector's base URL, as in ``OTEL_EXPORTER_OTLP_ENDPOINT``. For
            OTLP/HTTP, ``/v1/traces`` is appended unless the URL already has a path.
        protocol: ``"http/protobuf"`` (the default) or ``"grpc"``
            (else ``OTEL_EXPORTER_OTLP_PROTOCOL``).
        headers: Export headers, a mapping or ``"k1=v1,k2=v2"``
            (else ``OTEL_EXPORTER_OTLP_HEADERS``).
        resource_attributes: More resource attributes (merged over
            ``OTEL_RESOURCE_ATTRIBUTES``).
        instrument: Libraries to instrument once imported, by instrumentor name
            (``["httpx"]``); nothing is imported until telemetry starts.
        flush_timeout: Seconds the exit may wait for the last spans
            (``LAZYOTEL_FLUSH_TIMEOUT`` overrides).
        span_prefix: Prefix of command span names.
        capture_args: Record command arguments in ``cli.args``: True, False, or a callable
            ``(name, value) -> bool`` that decides per argument.
        redact: Parameter-name substrings whose values are recorded as ``"[REDACTED]"``.
        mode: ``"on"``, ``"off"``, ``"test"`` or ``"auto"`` (the default: ``test`` under
            pytest, else ``on``). ``LAZYOTEL_MODE``, ``OTEL_SDK_DISABLED=true`` and
            ``OTEL_TRACES_EXPORTER=none`` win over it.

    Raises:
        ValueError: A value is not allowed (an unknown exporter, protocol or mode, a negative
            timeout, a missing exporter package); the message names the fix.
        TypeError: A value has the wrong type, or a keyword is unknown.
    """
    if unknown:
        _unknown_keywords("bootstrap", unknown, _BOOTSTRAP_PARAMS)
    values = locals()
    changes = {name: values[name] for name in _BOOTSTRAP_PARAMS}
    changed = _config.apply(_config.SETTINGS, changes)  # checks all before storing any
    if "mode" in changed:
        _config.invalidate()
    _provider.apply_live(changed)


def reconfigure(
    *,
    endpoint: str | None = _UNSET,
    headers: Mapping[str, str] | str | None = _UNSET,
    exporter: ExporterSpec = _UNSET,
    protocol: str | None = _UNSET,
    **unknown: NoReturn,
) -> None:
    """Point telemetry somewhere else, for example at the host a CLI's ``--url`` names.

    Before telemetry has started this only records the change. After, it swaps the exporter
    once: spans ended from now on go only to the new destination, and the old exporter is
    flushed and shut down within ``flush_timeout``. Only the keywords given change.

    Args:
        endpoint: The collector's base URL (see ``bootstrap``).
        headers: Export headers.
        exporter: An exporter name, object or factory (see ``bootstrap``).
        protocol: ``"http/protobuf"`` or ``"grpc"``.

    Raises:
        ValueError: A value is not allowed (see ``bootstrap``).
        TypeError: A value has the wrong type, or a keyword is unknown.
    """
    if unknown:
        _unknown_keywords("reconfigure", unknown, ("endpoint", "headers", "exporter", "protocol"))
    given = {"endpoint": endpoint, "headers": headers, "exporter": exporter, "protocol": protocol}
    changes = {name: value for name, value in given.items() if value is not _UNSET}
    try:
        changed = _config.apply(_config.SETTINGS, changes)  # checks all before storing any
    except (TypeError, ValueError) as exc:  # the checks are bootstrap's: name this function
        msg = str(exc).replace("lazyotel.bootstrap(", "lazyotel.reconfigure(", 1)
        raise type(exc)(msg) from None
    _provider.apply_live(changed)


# Public objects say where users find them (``lazyotel.trace_command``), not which private
# module defines them: reprs, docs and pickles show the public path.
for _name in __all__:
    if not _name.startswith("__"):
        globals()[_name].__module__ = __name__
del _name, annotations, TYPE_CHECKING  # only the names in __all__ are public
