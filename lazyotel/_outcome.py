"""How a command span ends: the result's attributes, the status, exit codes, the exception event.

Imported on the active path only (the first span that is really made). The status follows the
OpenTelemetry semantic conventions for CLI programs: UNSET on success (OK with
``bootstrap(ok_status=True)``), ERROR when the exit code is not 0 or an exception escapes.
Nothing here raises into the command: a fault is one warning (``fault``).
"""

from __future__ import annotations

from . import _lite
from ._config import SETTINGS
from ._log import describe, fault
from ._values import MAX_NODES, bounded_text, encoder, int_value, json_ready, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def attribute_value(value: Any) -> Any:
    """``value`` as an attribute value OpenTelemetry accepts (else its bounded text)."""
    kind = type(value)
    if kind is str:
        return bounded_text(value)
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else int_value(value)  # OTLP carries int64
    if kind is bool or kind is float:
        return value
    if (kind is list or kind is tuple) and 0 < len(value) <= MAX_NODES:
        first = type(value[0])
        if first is int and all(type(i) is int and _INT64_MIN <= i <= _INT64_MAX for i in value):
            return list(value)
        if (first is str or first is bool or first is float) and all(type(item) is first for item in value):
            return [bounded_text(item) for item in value] if first is str else list(value)
    text = json_ready(value, 0, [MAX_NODES, set()])
    return text if type(text) is str else bounded_text(encoder()(text))


def result_attributes(result: Any, hook: Callable[[Any], Any] | None) -> dict[str, Any]:
    """The attributes a call's result adds: ``hook(result)``, else ``operation.id``.

    Without a hook, only a ``dict`` (or subclass) result is looked into, with ``dict.get``.

    Raises:
        Exception: Whatever ``hook`` raises (the caller logs it).
    """
    if hook is not None:
        extra = hook(result)
        if not extra:
            return {}
        return {
            key: attribute_value(value)
            for key, value in extra.items()
            if type(key) is str and key and value is not None
        }
    if issubclass(type(result), dict):
        value = dict.get(result, "operation_id")
        if value is not None:
            return {"operation.id": attribute_value(value)}
    return {}


def record_result(span: Any, result: Any, hook: Callable[[Any], Any] | None) -> None:
    """End the span of a call that returned ``result``. Never raises.

    Sets ``process.exit.code`` 0, the attributes ``result`` adds (``hook(result)``, else
    ``operation.id``), and the status OK only if ``bootstrap(ok_status=True)`` (else UNSET,
    as the OpenTelemetry conventions for CLI programs say).
    """
    try:
        extra = result_attributes(result, hook)
        span.set_attributes({"process.exit.code": 0, **extra})
        if SETTINGS.ok_status:
            span.set_status(_lite.statuses(span)[0])
    except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
        fault(exc)
    _end(span)


def record_exception(span: Any, exc: BaseException) -> None:
    """Set the status and attributes ``exc`` calls for, then end the span. Never raises.

    An exit with code 0 or None is a success (``process.exit.code`` 0; OK only with
    ``bootstrap(ok_status=True)``, else UNSET); a non-zero exit is ERROR with
    ``process.exit.code`` and ``error.type`` (the code as text); ``KeyboardInterrupt``,
    ``Abort`` and any other exception are ERROR with ``error.type`` (the exception's
    qualified type name), and an exception that is not an interruption also gets one
    exception event; ``GeneratorExit`` (a generator closed early) sets nothing.
    """
    try:
        ok, status, code_of = _lite.statuses(span)
        kind, code = outcome(exc)
        if kind == "exit":
            if code == 0:
                span.set_attribute("process.exit.code", 0)
                if SETTINGS.ok_status:
                    span.set_status(ok)
            else:
                span.set_attributes({"process.exit.code": code, "error.type": str(code)})
                span.set_status(status(code_of.ERROR, f"exit code {code}"))
        elif kind == "error":
            span.record_exception(exc)
            span.set_attribute("error.type", type_name(type(exc)))
            span.set_status(status(code_of.ERROR, describe(exc)))
        elif kind != "closed":
            span.set_attribute("error.type", type_name(type(exc)))
            span.set_status(status(code_of.ERROR, type(exc).__name__))
    except Exception as error:  # noqa: BLE001
        fault(error)
    _end(span)


def _end(span: Any) -> None:
    try:
        span.end()
    except Exception as exc:  # noqa: BLE001
        fault(exc)


def exit_code(code: object) -> int:
    """The status ``SystemExit(code)`` leaves: None is 0, an int itself, anything else 1."""
    if code is None:
        return 0
    if issubclass(type(code), int):
        value = int.__int__(code)  # type: ignore[arg-type]
        return value if _INT64_MIN <= value <= _INT64_MAX else 1
    return 1


def outcome(exc: BaseException) -> tuple[str, int]:
    """How an exception ends a command span.

    Returns:
        ``("exit", code)`` for ``SystemExit`` and click's or typer's ``Exit``;
        ``("abort", 1)`` for their ``Abort``; ``("interrupt", 1)`` for ``KeyboardInterrupt``;
        ``("closed", 0)`` for ``GeneratorExit``; else ``("error", 1)``. The click and typer
        classes are recognised by name and module, so click is never imported.
    """
    if isinstance(exc, SystemExit):
        return "exit", exit_code(exc.code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupt", 1
    if isinstance(exc, GeneratorExit):
        return "closed", 0
    for klass in type(exc).__mro__:
        if klass.__name__ in ("Exit", "Abort") and str(klass.__module__).split(".")[0] in ("click", "typer"):
            if klass.__name__ == "Exit":
                return "exit", exit_code(getattr(exc, "exit_code", 0))
            return "abort", 1
    return "error", 1
