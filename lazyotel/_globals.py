"""Resetting OpenTelemetry's private globals, probed by name for every supported version.

Every ``opentelemetry-api`` from 1.21 keeps, per signal, a provider, a one-shot ``Once``
latch that makes ``set_*_provider`` work only once per process, and a proxy provider. Test
suites that reset only the provider leave the latch spent, and every later
``set_tracer_provider`` is then ignored with an "Overriding ... is not allowed" warning.
Names are probed, never assumed: a version that moves them fails loudly here.
"""

from __future__ import annotations

import atexit
import gc
import sys
import warnings
from typing import Any

from opentelemetry.util._once import Once

# (module, provider global, Once global, proxy global, proxy class, signal required).
# Only modules already imported are reset (see ``_load``). In those, the provider and its Once
# must exist; the proxy is reset where the version has one (opentelemetry-api 1.21 has no logs
# proxy: get_logger_provider() sets a no-op instead).
_SIGNALS = (
    ("opentelemetry.trace", "_TRACER_PROVIDER", "_TRACER_PROVIDER_SET_ONCE", "_PROXY_TRACER_PROVIDER",
     "ProxyTracerProvider", True),
    ("opentelemetry.metrics._internal", "_METER_PROVIDER", "_METER_PROVIDER_SET_ONCE",
     "_PROXY_METER_PROVIDER", "_ProxyMeterProvider", True),
    ("opentelemetry._logs._internal", "_LOGGER_PROVIDER", "_LOGGER_PROVIDER_SET_ONCE",
     "_PROXY_LOGGER_PROVIDER", "ProxyLoggerProvider", True),
    ("opentelemetry._events", "_EVENT_LOGGER_PROVIDER", "_EVENT_LOGGER_PROVIDER_SET_ONCE",
     "_PROXY_EVENT_LOGGER_PROVIDER", "ProxyEventLoggerProvider", False),
)  # fmt: skip


def _api_version() -> str:
    try:
        from importlib.metadata import version

        return version("opentelemetry-api")
    except Exception:  # noqa: BLE001
        return "unknown"


def _layout_error(module: str, name: str) -> RuntimeError:
    msg = (
        f"lazyotel.testing.reset() does not know opentelemetry-api {_api_version()}: "
        f"{module}.{name} is missing, so its global provider cannot be reset safely. "
        "Please report this with the version; pin opentelemetry-api to a known version meanwhile."
    )
    return RuntimeError(msg)


def _load(module: str) -> Any:
    """The module if something imported it already, else None.

    A module never imported holds pristine globals: nothing to reset, and importing it here
    would cost time and, for ``opentelemetry._events`` on opentelemetry-api 1.39-1.41, raise a
    dozen DeprecationWarnings (an error under ``-W error::DeprecationWarning``).
    """
    return sys.modules.get(module)


def _probe() -> list[tuple[Any, str, str, str, str]]:
    """Check every name first, so a moved layout changes nothing before it fails."""
    found = []
    for module_name, provider, once, proxy, proxy_class, required in _SIGNALS:
        module = _load(module_name)
        if module is None:
            continue
        missing = [n for n in (provider, once) if not hasattr(module, n)]
        if missing:
            if not required and len(missing) == 2:
                continue  # the signal does not exist in this version (events)
            raise _layout_error(module_name, missing[0])
        found.append((module, provider, once, proxy, proxy_class))
    return found


def _retire(provider: Any, timeout: float) -> None:
    """Shut an old provider down within ``timeout`` and drop its atexit handler."""
    handler = getattr(provider, "_atexit_handler", None)
    if handler is not None:
        atexit.unregister(handler)
        provider._atexit_handler = None
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        from ._bounded import run_bounded

        run_bounded(shutdown, timeout, "reset")


def _unpin_proxy_tracers() -> None:
    """Make every ``ProxyTracer`` resolve its tracer again on its next span.

    A ``ProxyTracer`` keeps the first real tracer it resolved forever. Those pinned to a
    lazyotel ``FollowingTracer`` follow resets by themselves; the others (pinned to a provider
    a test installed itself) are found through the garbage collector, only when such a
    provider was in place.
    """
    from opentelemetry.trace import ProxyTracer

    from ._follow import FollowingTracer

    for obj in gc.get_objects():
        if type(obj) is ProxyTracer:
            real = getattr(obj, "_real_tracer", None)
            if real is not None and not isinstance(real, FollowingTracer):
                obj._real_tracer = None


def _reset_propagator() -> None:
    from opentelemetry import propagate

    loader = getattr(propagate, "_load_propagators", None)
    if callable(loader):
        propagate.set_global_textmap(loader())
        return
    # opentelemetry-api < 1.3x builds the default at import time from OTEL_PROPAGATORS.
    import os

    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.util._importlib_metadata import entry_points

    names = os.environ.get("OTEL_PROPAGATORS", "tracecontext,baggage")
    propagators = []
    for raw in names.split(","):
        name = raw.strip().lower()
        if not name or name == "none":
            continue
        (ep,) = entry_points(group="opentelemetry_propagator", name=name)
        propagators.append(ep.load()())
    propagate.set_global_textmap(CompositePropagator(propagators))


def reset_all(timeout: float) -> None:
    """Restore every signal's globals and the propagator (see the module docstring)."""
    from ._follow import PROVIDER

    signals = _probe()
    foreign_tracer_provider = False
    for module, provider_name, once_name, proxy_name, proxy_class in signals:
        old = getattr(module, provider_name)
        if old is not None and old is not PROVIDER:
            if provider_name == "_TRACER_PROVIDER":
                foreign_tracer_provider = True
            _retire(old, timeout)
        setattr(module, provider_name, None)
        setattr(module, once_name, Once())
        if hasattr(module, proxy_name) and hasattr(module, proxy_class):
            with warnings.catch_warnings():
                # The events proxy class is deprecated (opentelemetry-api 1.39-1.41): making a
                # fresh one is the reset's business, not a warning for the test suite.
                warnings.simplefilter("ignore", DeprecationWarning)
                setattr(module, proxy_name, getattr(module, proxy_class)())
    if foreign_tracer_provider:
        _unpin_proxy_tracers()
    _reset_propagator()
