"""A tracer provider whose tracers follow the current provider (OpenTelemetry API only).

Plain OpenTelemetry cannot swap providers: a ``ProxyTracer`` keeps the first real tracer it
resolves, forever. lazyotel installs one ``FollowingProvider`` as the global provider, once
per process; every tracer it hands out (to module-level code, to instrumentations, through
``ProxyTracer``) asks on each span which provider is current:

1. the in-memory provider of ``lazyotel.testing.capture_spans()``, while one is open;
2. the SDK provider lazyotel built at activation;
3. a real global provider someone else installed (a test, ``opentelemetry-instrument``);
4. otherwise a no-op.

So ``reconfigure`` and ``lazyotel.testing.reset()`` take effect on tracers handed out earlier.
Imported only once a span is really wanted.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace

from . import _log
from ._state import RUNTIME

_NOOP = trace.NoOpTracerProvider()
_PROVIDER_VARIABLE = "OTEL_PYTHON_TRACER_PROVIDER"


class _Unloadable:
    """Whether ``OTEL_PYTHON_TRACER_PROVIDER`` already failed to load (it is tried once)."""

    failed = False


def global_provider() -> trace.TracerProvider:
    """``trace.get_tracer_provider()``, except that it never raises nor logs a traceback.

    With ``OTEL_PYTHON_TRACER_PROVIDER`` set and no provider installed, OpenTelemetry loads
    the named provider on this call; a name that is not installed raises ``StopIteration``
    after logging a traceback. That is one lazyotel warning here, and the proxy (no real
    provider) from then on.
    """
    provider = trace._TRACER_PROVIDER
    if provider is not None:
        return provider
    if _Unloadable.failed or _PROVIDER_VARIABLE not in os.environ:
        return trace._PROXY_TRACER_PROVIDER
    try:
        with _log.funnelled("opentelemetry.util._providers", quiet=True):  # warned below
            return trace.get_tracer_provider()
    except Exception as exc:  # noqa: BLE001 - a bad variable must not break the command
        _Unloadable.failed = True
        why = "no such tracer provider is installed" if isinstance(exc, StopIteration) else repr(exc)
        _log.warn_once(
            "%s=%r is ignored: %s (entry point group 'opentelemetry_tracer_provider')",
            _PROVIDER_VARIABLE,
            os.environ.get(_PROVIDER_VARIABLE),
            why,
        )
        return trace._PROXY_TRACER_PROVIDER


def current_provider() -> trace.TracerProvider:
    """The provider spans go to now (see the module docstring for the order)."""
    provider = RUNTIME.override or RUNTIME.own
    if provider is not None:
        return provider  # type: ignore[no-any-return]
    provider = global_provider()
    # type() rather than isinstance(): an ABC check on every span costs more than the rest.
    if provider is PROVIDER or type(provider) is trace.ProxyTracerProvider:
        return _NOOP
    return provider


def _tracer_from(provider: trace.TracerProvider, args: tuple[Any, ...]) -> trace.Tracer:
    name, version, schema_url, attributes = args
    if attributes is None:  # opentelemetry-api < 1.26 has no ``attributes`` parameter
        return provider.get_tracer(name, version, schema_url)
    return provider.get_tracer(name, version, schema_url, attributes)  # type: ignore[call-arg,unused-ignore]


class FollowingTracer(trace.Tracer):
    """A tracer that resolves the current provider's tracer on each span (one identity check)."""

    def __init__(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> None:
        self._args = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        # One tuple, replaced whole, so threads never see a provider with another's tracer.
        self._pair: tuple[Any, trace.Tracer | None] = (None, None)

    def current(self) -> trace.Tracer:
        provider = current_provider()
        pair = self._pair
        if pair[0] is not provider or pair[1] is None:
            pair = (provider, _tracer_from(provider, self._args))
            self._pair = pair
        return pair[1]  # type: ignore[return-value]

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self.current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        # The current tracer's own context manager (usable as a decorator too).
        return self.current().start_as_current_span(*args, **kwargs)


class FollowingProvider(trace.TracerProvider):
    """The global provider lazyotel installs: hands out following tracers.

    Other attributes (``force_flush``, ``add_span_processor``, ``resource``...) are those of
    the current provider, so code written for the SDK provider keeps working.
    """

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        return FollowingTracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(current_provider(), name)

    def __repr__(self) -> str:
        return f"<lazyotel.FollowingProvider -> {current_provider()!r}>"


PROVIDER = FollowingProvider()


def install_global() -> bool:
    """Make ``PROVIDER`` the global provider if none is set; False if someone else's is."""
    current = global_provider()
    if current is PROVIDER:
        return True
    if not isinstance(current, trace.ProxyTracerProvider):
        return False
    trace.set_tracer_provider(PROVIDER)
    return trace._TRACER_PROVIDER is PROVIDER


def lend_global() -> bool:
    """Make ``PROVIDER`` the global provider without spending ``set_tracer_provider``'s latch.

    For ``lazyotel.testing.capture_spans()``: instrumentations and ``ProxyTracer``s record
    into the capture, yet a test that then installs its own provider with
    ``trace.set_tracer_provider`` succeeds, with no "Overriding ... is not allowed" warning.
    Returns True if it lent it (``withdraw_global`` takes it back).
    """
    if trace._TRACER_PROVIDER is not None:
        # A real provider (or ours) is installed already. (Not get_tracer_provider(): in
        # test mode nothing may load OTEL_PYTHON_TRACER_PROVIDER's provider.)
        return False
    latch = trace._TRACER_PROVIDER_SET_ONCE
    if getattr(latch, "_done", True):
        return False
    trace._TRACER_PROVIDER = PROVIDER
    return True


def withdraw_global() -> None:
    """Undo ``lend_global`` unless a provider was installed properly since."""
    if trace._TRACER_PROVIDER is PROVIDER and not getattr(trace._TRACER_PROVIDER_SET_ONCE, "_done", True):
        trace._TRACER_PROVIDER = None


def foreign_provider() -> trace.TracerProvider | None:
    """The real provider someone other than lazyotel installed, if any."""
    current = global_provider()
    if current is PROVIDER or isinstance(current, trace.ProxyTracerProvider):
        return None
    return current
