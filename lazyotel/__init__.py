"""OpenTelemetry tracing for command-line tools, at no start-up cost and safe in test suites.

``import lazyotel``, ``lazyotel.bootstrap(...)``, decorating commands and
``lazyotel.get_tracer(...)`` import nothing from OpenTelemetry; tracing starts on the first span
that is really made. In hand-off delivery lazyotel's own recorder records, without importing
OpenTelemetry until something else does (the detached shipper imports the SDK); otherwise the
SDK is imported then. See ``lazyotel.bootstrap``.

lazyotel speaks on the ``lazyotel`` logger: at most one warning per run, never a credential.
``LAZYOTEL_LOG=debug`` in the environment shows the details it logs at debug level.

Floor map (each module imports only floors below it, function-level imports too; pinned by
tests/test_house.py, where a new module gets its floor):

    face                    __init__  pytest_plugin  __main__
    tools for users' tests  testing                         (the hub's functions only)
    command spans           _app > _decorator > _command > _capture, _outcome, _values; _tracer
    the hub                 _provider: the trace-or-not decision, activation, exit, state it owns
    pipelines               _record > _lite (no OpenTelemetry), _recorder (on its API);
                            _sdk > _exporters; _follow _instrument _envcontext _globals _noop
                            _httpx; _handoff > _spool, _otlpjson; _ship
                            (imported by the hub on demand; never import it)
    leaves                  _config (the settings table), _redact (which names hide their
                            values), _state, _log, _bounded, _endpoint, _doctor, _receiver,
                            _tree, _version, _hook (post-import hook), _jsonenc, _w3c
"""

from __future__ import annotations

from . import _config, _log, _provider
from ._decorator import trace_command
from ._provider import flush, mode, shutdown
from ._tracer import get_tracer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any, NoReturn, Union

    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.util.types import AttributeValue

    from ._app import trace_app
    from ._config import CaptureSpec

    _Endpoint = Union[str, Callable[[], Union[str, None]], None]
    _Headers = Union[Mapping[str, str], str, Callable[[], Union[Mapping[str, str], str, None]], None]
    _Resource = Union[
        Mapping[str, AttributeValue], Callable[[], Union[Mapping[str, AttributeValue], None]], None
    ]

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
    "trace_app",
    "trace_command",
]

_UNSET: Any = object()


#: ``bootstrap``'s keywords: the settings table's names, in its order.
_BOOTSTRAP_PARAMS = tuple(_config.ROWS)


def __getattr__(name: str) -> Any:
    # Served on first use, so ``import lazyotel`` does not pay for them: the version lives in
    # one place, _version.py (hatch reads it too); ``trace_app`` in its own module (loading the
    # pytest plugin, which imports this package in every test session, stays cheap).
    if name == "__version__":
        from ._version import __version__

        return __version__
    if name == "trace_app":
        from ._app import trace_app

        trace_app.__module__ = __name__
        globals()["trace_app"] = trace_app
        return trace_app
    msg = f"module 'lazyotel' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), "__version__", "trace_app"})


def _unknown_keywords(func: str, unknown: Mapping[str, object], valid: Iterable[str]) -> NoReturn:
    import difflib

    name = sorted(unknown)[0]
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keywords: {', '.join(valid)}"
    if func != "bootstrap" and name in _BOOTSTRAP_PARAMS:
        hint = f"; {name}= is set with lazyotel.bootstrap() only (reconfigure takes {', '.join(valid)})"
    msg = f"lazyotel.{func}() got an unexpected keyword argument {name!r}{hint}"
    raise TypeError(msg)


def bootstrap(
    service_name: str | None = None,
    *,
    exporter: ExporterSpec = None,
    endpoint: _Endpoint = None,
    protocol: str | None = None,
    headers: _Headers = None,
    resource_attributes: _Resource = None,
    instrument: Iterable[str] = (),
    flush_timeout: float = 1.0,
    span_prefix: str = "cli.",
    capture_args: CaptureSpec = True,
    redact: Iterable[str] = _config.DEFAULT_REDACT,
    mode: str | None = None,
    ok_status: bool = False,
    tracer_name: str | None = None,
    subprocess_spans: bool = False,
    delivery: str | None = None,
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
        endpoint: The collector's base URL, as in ``OTEL_EXPORTER_OTLP_ENDPOINT``: for
            OTLP/HTTP ``/v1/traces`` is appended (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is
            used as is). OTLP/HTTP needs an ``http://`` or ``https://`` URL; gRPC also takes
            ``host:port`` (TLS unless ``OTEL_EXPORTER_OTLP_INSECURE=true``, as the gRPC
            exporter decides) and ``unix:`` or ``dns:`` targets.
        protocol: ``"http/protobuf"`` (the default) or ``"grpc"``
            (else ``OTEL_EXPORTER_OTLP_PROTOCOL``).
        headers: Export headers, a mapping or ``"k1=v1,k2=v2"``
            (else ``OTEL_EXPORTER_OTLP_HEADERS``).
        resource_attributes: More resource attributes (merged over
            ``OTEL_RESOURCE_ATTRIBUTES``).

            ``endpoint``, ``headers`` and ``resource_attributes`` also take a callable with no
            arguments that returns the value (for a CLI whose settings are slow to import).
            It is called once, when telemetry starts, never in ``off`` or ``test`` mode, and
            its result is checked like the plain argument; if it raises or returns a bad
            value, telemetry is off for the run with one warning (the command is not
            affected). ``reconfigure`` given a plain value wins over it.
        instrument: Libraries to instrument once imported, by instrumentor name
            (``["httpx"]``); nothing is imported until telemetry starts.
        flush_timeout: Seconds the exit may wait for the last spans
            (``LAZYOTEL_FLUSH_TIMEOUT`` overrides).
        span_prefix: Prefix of command span names.
        capture_args: Record command arguments in ``cli.args``: True, False, or a callable
            ``(name, value) -> bool`` that decides per argument.
        redact: Names whose values are recorded as ``"[REDACTED]"``: parameter names, keys
            and field names inside values at any depth, and argv-style options in lists,
            ``*args`` and ``sys.argv`` (``["--password", "x"]`` hides ``"x"``; ``"--token=x"``
            and ``"DB_PASSWORD=x"`` hide what follows ``=``; a one-letter option such as
            ``-p`` names nothing: it may be a port). Names and patterns are split into
            words at ``_``, ``-``, ``.``, spaces and camelCase boundaries (case-insensitive); a
            pattern matches its words as consecutive words of the name, each exactly or with a
            plural ``s`` (a one-word pattern of 5 letters or more also ends a glued word:
            ``dbpassword``), unless another word of the name is a quantity (``count``,
            ``max``, ``len``, ``type``...). So ``"api_key"`` hides ``x-api-key`` and
            ``apiKey``, and the defaults leave ``author``, ``tokenizer``, ``session_count``
            and ``max_tokens`` visible. A list replaces the defaults: ``password``,
            ``passwd``, ``passphrase``, ``secret``, ``token``, ``api_key``, ``apikey``,
            ``access_key``, ``private_key``, ``auth``, ``authorization``, ``credential``,
            ``cookie``, ``session``.
        mode: ``"on"``, ``"off"``, ``"test"`` or ``"auto"`` (the default: ``test`` under
            pytest, else ``on``). ``LAZYOTEL_MODE``, ``OTEL_SDK_DISABLED=true`` and
            ``OTEL_TRACES_EXPORTER=none`` win over it.
        ok_status: Set the status OK on a command that succeeds (returns, or exits with code 0
            or None). By default its status stays UNSET, as the OpenTelemetry semantic
            conventions for CLI programs say; set True for dashboards that filter on OK.
            Failures are ERROR either way.
        tracer_name: One instrumentation scope name for every command span (for example the
            CLI's name). By default each command's span has its module's name as scope.
        subprocess_spans: Also record a CLIENT span for each child process a traced
            command starts through ``subprocess`` (``process.command_args`` redacted,
            ``process.pid``, ``process.exit.code``), ended when it is waited for. Child
            processes get ``TRACEPARENT`` either way.
        delivery: ``"handoff"`` (the default) or ``"inline"`` (``LAZYOTEL_DELIVERY``
            overrides). Hand-off writes finished spans to a local spool at exit and a
            detached ``python -m lazyotel ship`` exports them, so the command neither imports
            an exporter nor waits for the network; inline exports from the command, in the
            background, and waits at most ``flush_timeout`` at exit. Where hand-off cannot
            work (an exporter object or factory, the console exporter, a frozen app, a
            spool that cannot be written) spans go inline. See docs/delivery.md.

    A missing exporter package (``lazyotel[otlp]``, ``lazyotel[grpc]``) is not an error here:
    it matters only once telemetry starts, in ``on`` mode, and is then one warning naming the
    ``pip install`` that fixes it, with telemetry off for the run. So ``--help``, off and test
    mode never need the package.

    Raises:
        ValueError: A value is not allowed (an unknown exporter, protocol or mode, a negative
            timeout, an endpoint the protocol's exporter does not accept); the message names
            the fix.
        TypeError: A value has the wrong type, or a keyword is unknown.
    """
    if unknown:
        _unknown_keywords("bootstrap", unknown, _BOOTSTRAP_PARAMS)
    values = locals()
    _provider.configure("bootstrap", {name: values[name] for name in _BOOTSTRAP_PARAMS})


def reconfigure(
    *,
    endpoint: str | None = _UNSET,
    headers: Mapping[str, str] | str | None = _UNSET,
    exporter: ExporterSpec = _UNSET,
    protocol: str | None = _UNSET,
    strict: bool = True,
    **unknown: NoReturn,
) -> bool:
    """Point telemetry somewhere else, for example at the host a CLI's ``--url`` names.

    Before telemetry has started this only records the change. After, it swaps the exporter
    once: spans ended from now on go only to the new destination, and the old exporter is
    flushed and shut down within ``flush_timeout``. Only the keywords given change.

    Args:
        endpoint: The collector's base URL (see ``bootstrap``).
        headers: Export headers.
        exporter: An exporter name, object or factory (see ``bootstrap``).
        protocol: ``"http/protobuf"`` or ``"grpc"``.
        strict: With False, a value that is not allowed (say, an end user's ``--url``
            without a scheme) is one warning on the ``lazyotel`` logger and changes nothing:
            spans keep their destination and the command runs on. Use it for values that
            come from users rather than from code.

    Returns:
        True if the change was recorded; False if ``strict=False`` refused it.

    Raises:
        ValueError: A value is not allowed (see ``bootstrap``); not with ``strict=False``.
        TypeError: A value has the wrong type (not with ``strict=False``), or a keyword is
            unknown.
    """
    if unknown:
        _unknown_keywords("reconfigure", unknown, ("endpoint", "headers", "exporter", "protocol", "strict"))
    if not isinstance(strict, bool):
        msg = f"lazyotel.reconfigure(strict={strict!r}): expected True or False"
        raise TypeError(msg)
    given = {"endpoint": endpoint, "headers": headers, "exporter": exporter, "protocol": protocol}
    changes = {name: value for name, value in given.items() if value is not _UNSET}
    try:
        _provider.configure("reconfigure", changes)  # checks all before storing any
    except (TypeError, ValueError) as exc:
        if strict:
            raise
        # The messages never carry a header value or a URL's credentials. Off and test mode
        # send nothing anywhere: a bad destination is not worth a word there.
        report = _log.warn_once if mode() == "on" else _log.debug
        report("%s; the configuration is unchanged", exc)
        return False
    return True


# Public objects say where users find them (``lazyotel.trace_command``), not which private
# module defines them: reprs, docs and pickles show the public path.
for _name in __all__:
    if _name in globals() and not _name.startswith("__"):  # the lazy ones: see __getattr__
        globals()[_name].__module__ = __name__
del _name, annotations, TYPE_CHECKING  # only the names in __all__ are public
