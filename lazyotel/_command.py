"""What one traced call does: decide, start its span, record its arguments and its end.

``Command`` is made at decoration, once per command (``_decorator`` builds the wrappers around
it); its methods never raise into the command. ``_capture``, ``_outcome`` and ``_lite`` are
imported by the first span that is really made; the OpenTelemetry API and ``_follow`` only
where the span is recorded on the API (not while ``_lite`` records).
"""

from __future__ import annotations

from . import _provider
from ._config import SETTINGS
from ._log import fault
from ._state import RUNTIME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from ._config import CaptureSpec

_CO_VARARGS = 0x04  # a code flag (Include/cpython/code.h); reading it avoids importing ``inspect``


# -- the callable: what it is, which parameters a call fills -------------------------------------


def unwrap_partial(fn: Any) -> tuple[Any, int]:
    """The function inside ``functools.partial`` layers, and how many positional arguments
    they bind (``functools`` is never imported: a partial is known by its name and ``func``)."""
    bound = 0
    for _ in range(100):
        if type(fn).__name__ != "partial" or not hasattr(fn, "func"):
            break
        bound += len(getattr(fn, "args", ()))
        fn = fn.func
    return fn, bound


def _code_of(target: Any) -> Any:
    """The code object that decides the callable's nature, as ``inspect`` would find it."""
    return getattr(unwrap_partial(target)[0], "__code__", None)


def bind(fn: Any, skip: int) -> tuple[tuple[str, ...], str, int]:
    """(names of the positional parameters a call fills, the ``*args`` name, ``skip``).

    Read from the code object, without ``inspect``: a partial's bound arguments and a bound
    method's ``self`` are not among the call's arguments; ``skip`` leading ones (a method's
    ``self`` or ``cls``) are left out of the capture.
    """
    # Another decorator under this one (functools.wraps): its (*args, **kwargs) would hide the
    # parameter names typer, click and inspect.signature see, and so what must be redacted.
    for _ in range(100):
        inner = getattr(fn, "__wrapped__", None)
        if inner is None:
            break
        fn = inner
    fn, offset = unwrap_partial(fn)
    code = getattr(fn, "__code__", None)
    if code is None:
        return (), "", skip
    if getattr(fn, "__self__", None) is not None:
        offset += 1
    varargs = (
        code.co_varnames[code.co_argcount + code.co_kwonlyargcount] if code.co_flags & _CO_VARARGS else ""
    )
    return tuple(code.co_varnames[: code.co_argcount][offset + skip :]), varargs, skip


# -- the telemetry side: a span per call, and nothing it does reaches the command --------------


class _Api:
    """The OpenTelemetry API and ``_follow``, loaded on the first span recorded on the API."""

    def __init__(self) -> None:
        from opentelemetry import context, trace

        from ._follow import FollowingTracer

        self.attach, self.detach = context.attach, context.detach
        self.set_span_in_context = trace.set_span_in_context
        self.FollowingTracer = FollowingTracer


_api: Any = None


def _load_api() -> Any:
    global _api
    if _api is None:
        _api = _Api()
    return _api


class _Parts:
    """lazyotel's active-path modules (no OpenTelemetry import), loaded on the first span."""

    def __init__(self) -> None:
        from . import _capture, _lite, _outcome

        self.capture = _capture
        self.outcome = _outcome
        self.lite = _lite


_parts: Any = None


def _load_parts() -> Any:
    global _parts
    if _parts is None:
        _parts = _Parts()
    return _parts


class Command:
    """What a traced call needs, decided once at decoration. Its methods never raise."""

    __slots__ = (
        "attributes",
        "capture",
        "fn",
        "name",
        "params",
        "prefix",
        "result_hook",
        "scope",
        "skip",
        "span_name",
        "tracer",
    )

    def __init__(
        self,
        fn: Any,
        name: str,
        skip: int,
        *,
        attributes: Mapping[str, Any],
        capture: CaptureSpec | None,
        result_hook: Callable[[Any], Any] | None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.attributes = {**attributes, "cli.command": name}
        self.capture = capture
        self.result_hook = result_hook
        self.skip = skip
        self.params: Any = None  # parameter names, read on the first span
        self.tracer: Any = None  # one following tracer per command, made on its first span
        self.scope: str | None = None  # the ``bootstrap(tracer_name=...)`` it was made for
        self.prefix: str | None = None
        self.span_name = name

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """Start the span (not yet current): (span, its context), or (None, None) if untraced.

        While ``_lite`` records, the "context" is the span itself (``attach`` makes it current
        in ``_lite``'s context); otherwise it is OpenTelemetry's.
        """
        if not _provider.traced():
            return None, None
        try:
            parts = _parts or _load_parts()
            own = RUNTIME.own
            lite = type(own) is parts.lite.Provider
            scope = SETTINGS.tracer_name
            if self.params is None:
                self.params = bind(self.fn, self.skip)  # before the tracer: threads
            if (
                self.tracer is None
                or self.scope is not scope
                or self.tracer[0] is not (own if lite else None)
            ):
                module = getattr(self.fn, "__module__", None)
                self.scope = scope
                name = scope or (module if isinstance(module, str) else "lazyotel")
                # (provider, tracer) for _lite's provider; else a tracer following the current one
                self.tracer = (
                    (own, own.get_tracer(name)) if lite else (None, _load_api().FollowingTracer(name))
                )
            if self.prefix is not SETTINGS.span_prefix:
                self.prefix = SETTINGS.span_prefix
                self.span_name = f"{self.prefix}{self.name}"
            spec = SETTINGS.capture_args if self.capture is None else self.capture
            attributes = {**parts.capture.process_attributes(spec is True), **self.attributes}
            if spec is not False:
                attributes["cli.args"] = parts.capture.capture(self.params, args, kwargs, spec)
            if lite:
                span = self.tracer[1].start_span(self.span_name, attributes=attributes)
                return span, span
            # ``current()``: the following tracer's pick of provider, minus one call layer.
            span = self.tracer[1].current().start_span(self.span_name, attributes=attributes)
        except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
            fault(exc)
            return None, None
        try:
            return span, _api.set_span_in_context(span)
        except Exception as exc:  # noqa: BLE001
            fault(exc)
            self.fail(span, GeneratorExit())  # ends it, with no status
            return None, None

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """Start the span and make it current: (span, token), or (None, None) if untraced."""
        span, ctx = self.open(args, kwargs)
        return span, self.attach(ctx)

    def attach(self, ctx: Any) -> Any:
        if ctx is None:
            return None
        try:
            if isinstance(ctx, dict):  # OpenTelemetry's Context is a dict
                return _api.attach(ctx)
            return _parts.lite.attach(ctx)
        except Exception as exc:  # noqa: BLE001
            fault(exc)
            return None

    def detach(self, token: Any) -> None:
        if token is not None:
            try:
                if type(token) is _parts.lite.Frame:
                    _parts.lite.detach(token)
                else:
                    _api.detach(token)
            except Exception as exc:  # noqa: BLE001
                fault(exc)

    def finish(self, span: Any, result: Any, token: Any = None) -> None:
        """Detach ``token``, then end the span of a call that returned ``result``."""
        if token is not None:
            self.detach(token)
        if span is not None:
            _parts.outcome.record_result(span, result, self.result_hook)

    def fail(self, span: Any, exc: BaseException, token: Any = None) -> None:
        """Detach ``token``, then end the span of a call that raised ``exc`` (re-raised as is)."""
        if token is not None:
            self.detach(token)
        if span is not None:
            _parts.outcome.record_exception(span, exc)
