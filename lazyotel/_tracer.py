"""``lazyotel.get_tracer``: a tracer that is free to create and safe to keep at module level.

Each span asks the hub (``_provider.traced``) whether it is traced; an untraced one is a
no-op span from ``_noop`` with nothing imported.
"""

from __future__ import annotations

import sys

from . import _log, _provider
from ._state import RUNTIME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from opentelemetry.trace import Tracer
    from opentelemetry.util.types import Attributes

    # For checkers LazyTracer is the OpenTelemetry Tracer it stands in for; at run time it
    # must not import OpenTelemetry, so it derives from object.
    _TracerBase = Tracer
else:
    _TracerBase = object


class LazyTracer(_TracerBase):
    """A tracer that is safe to create at module level: it imports nothing until used.

    Each span asks whether tracing is on. If not (``off`` or ``test`` mode, after
    ``shutdown()``), it gets a no-op span: nothing imported, no OpenTelemetry global read or
    loaded (in ``test`` mode, a provider a test installed itself is still followed).
    Otherwise telemetry activates and the span goes to a tracer that follows the current
    provider, so it survives ``reconfigure`` and test resets.
    """

    __slots__ = ("_args", "_lite", "_tracer")

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> None:
        self._args = (name, version, schema_url, attributes)
        self._tracer: Any = None
        self._lite: tuple[Any, Any] | None = None  # (_lite's provider, its tracer)

    def _resolve(self) -> Any:
        """The tracer for this span, or None when it is untraced: ``_lite``'s while it records
        (nothing of OpenTelemetry imported), else one that follows the current provider."""
        if not _provider.traced(follow_test_provider=True):
            return None
        own = RUNTIME.own
        lite = sys.modules.get("lazyotel._lite")
        if lite is not None and type(own) is lite.Provider:
            pair = self._lite
            if pair is None or pair[0] is not own:
                pair = self._lite = (own, own.get_tracer(*self._args))
            return pair[1]
        tracer = self._tracer
        if tracer is None:
            with _log.quiet_otel_import():
                from ._follow import FollowingTracer

            tracer = self._tracer = FollowingTracer(*self._args)
        return tracer

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        """Start a span (see ``opentelemetry.trace.Tracer.start_span``)."""
        tracer = self._resolve()
        if tracer is None:
            return (_noop or _load_noop()).NOOP_SPAN
        return tracer.start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        """Start a span and make it current (see ``Tracer.start_as_current_span``).

        Returns a context manager that is also a decorator; whether the span is traced is
        decided when the block is entered (each call, for a decorated function).
        """
        return (_noop or _load_noop()).CurrentSpan(self._resolve, args, kwargs)

    def __repr__(self) -> str:
        return f"<lazyotel.LazyTracer {self._args[0]!r}>"


_noop: Any = None  # lazyotel._noop, loaded by the first span (not by loading the pytest plugin)


def _load_noop() -> Any:
    global _noop
    from . import _noop as module

    _noop = module
    return module


def get_tracer(
    name: str,
    version: str | None = None,
    schema_url: str | None = None,
    attributes: Attributes = None,
) -> Tracer:
    """Return a tracer that is free to create and safe to keep at module level.

    Args:
        name: The instrumentation scope, usually ``__name__``.
        version: The scope's version.
        schema_url: The scope's schema URL.
        attributes: The scope's attributes.

    Returns:
        A tracer with ``start_span`` and ``start_as_current_span``. Nothing is imported until
        one of them is called; then it follows whatever provider is current.
    """
    if not isinstance(name, str):
        msg = f"lazyotel.get_tracer(name={name!r}): expected a string such as __name__"
        raise TypeError(msg)
    return LazyTracer(name, version, schema_url, attributes)
