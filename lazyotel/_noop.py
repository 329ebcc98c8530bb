"""The span ``lazyotel.get_tracer()`` hands out when tracing is off, and its lazy context manager.

In ``off`` and ``test`` mode (and after ``shutdown()``) a command that uses a lazyotel tracer
must run exactly as without telemetry: no OpenTelemetry import, no global provider read (a
malformed ``OTEL_PYTHON_TRACER_PROVIDER`` would raise there). ``NOOP_SPAN`` has the methods of
OpenTelemetry's non-recording span and does nothing. ``CurrentSpan`` is the context manager
(and decorator) ``start_as_current_span`` returns: it decides at each ``with``, never when made.
Imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class NoOpSpan:
    """A span that records nothing: every method of ``opentelemetry.trace.Span``, doing nothing."""

    __slots__ = ()

    def get_span_context(self) -> Any:
        """OpenTelemetry's invalid span context (the API is imported only here, on request)."""
        from opentelemetry.trace import INVALID_SPAN_CONTEXT

        return INVALID_SPAN_CONTEXT

    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Any) -> None:
        pass

    def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
        pass

    def add_link(self, context: Any, attributes: Any = None) -> None:
        pass

    def update_name(self, name: str) -> None:
        pass

    def set_status(self, status: Any, description: str | None = None) -> None:
        pass

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        pass

    def end(self, end_time: int | None = None) -> None:
        pass

    def __enter__(self) -> NoOpSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<lazyotel.NoOpSpan>"


NOOP_SPAN = NoOpSpan()


class CurrentSpan:
    """What ``LazyTracer.start_as_current_span`` returns: a context manager and a decorator.

    Nothing is decided when it is made (often at import, as a decorator): each ``with`` (each
    call of a decorated function) asks ``resolve`` for the tracer in force then; ``None`` means
    untraced, and the block gets ``NOOP_SPAN`` with nothing imported.
    """

    __slots__ = ("_args", "_inner", "_kwargs", "_resolve")

    def __init__(self, resolve: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._resolve = resolve
        self._args = args
        self._kwargs = kwargs
        self._inner: Any = None

    def __enter__(self) -> Any:
        tracer = self._resolve()
        if tracer is None:
            return NOOP_SPAN
        inner = tracer.start_as_current_span(*self._args, **self._kwargs)
        span = inner.__enter__()
        self._inner = inner
        return span

    def __exit__(self, *exc_info: Any) -> Any:
        inner, self._inner = self._inner, None
        if inner is None:
            return None
        return inner.__exit__(*exc_info)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``fn``: every call runs in a span of its own (OpenTelemetry's behaves so too)."""
        resolve, args, kwargs = self._resolve, self._args, self._kwargs
        code = getattr(fn, "__code__", None)
        if code is not None and code.co_flags & 0x80:  # CO_COROUTINE: keep it a coroutine function

            async def traced_coroutine(*a: Any, **kw: Any) -> Any:
                with CurrentSpan(resolve, args, kwargs):
                    return await fn(*a, **kw)

            wrapper: Any = traced_coroutine
        else:

            def traced(*a: Any, **kw: Any) -> Any:
                with CurrentSpan(resolve, args, kwargs):
                    return fn(*a, **kw)

            wrapper = traced
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            value = getattr(fn, attr, None)
            if value is not None:
                setattr(wrapper, attr, value)
        wrapper.__wrapped__ = fn
        return wrapper  # type: ignore[no-any-return]
