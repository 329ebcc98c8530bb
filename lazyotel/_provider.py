"""The hub: the one "trace or not" decision, activation, flush, shutdown and the bounded exit.

It owns ``STATE`` and ``RUNTIME`` (records in ``_state``) and is the only module that writes
them. Nothing here imports OpenTelemetry at module level: ``activate()`` builds the pipeline on
the first real span, exactly once, under a lock. The pipelines (``_record``, ``_sdk``, ``_follow``,
``_instrument``, ``_envcontext``, ``_globals``, ``_noop``) are imported only from here, on
demand, and never import the hub: what they need is passed in or lives in a leaf.
"""

from __future__ import annotations

import _thread
import os
import sys

from . import _config, _log
from ._config import SETTINGS
from ._log import describe
from ._state import RUNTIME, STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


# -- the decision: trace or not -------------------------------------------------------------------


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
        _log.warn_once("LAZYOTEL_MODE=%r is not one of on, off, test, auto; ignoring it", raw)
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


def traced(*, follow_test_provider: bool = False) -> bool:
    """The one answer to "trace this span?"; activates telemetry on the first yes.

    ``STATE.bypass`` caches the no, so a decorated call that is not traced reads one bool and
    never gets here. ``follow_test_provider``: in ``test`` mode, a span of a
    ``lazyotel.get_tracer`` tracer still goes to a provider a test installed itself.
    """
    if STATE.bypass if STATE.resolved else refresh():
        return follow_test_provider and STATE.mode == "test" and not STATE.closed and _test_provider()
    if not RUNTIME.activated:
        activate()
        return not STATE.bypass  # activation failed: telemetry is off for the run
    return True


def _test_provider() -> bool:
    """Whether a test installed a real tracer provider (which lazyotel's tracers then follow).

    Reads OpenTelemetry's global only where the API is imported already, and never calls
    ``get_tracer_provider()``: that could load ``OTEL_PYTHON_TRACER_PROVIDER`` (and raise).
    """
    api = sys.modules.get("opentelemetry.trace")
    provider = getattr(api, "_TRACER_PROVIDER", None)
    if provider is None:
        return False
    follow = sys.modules.get("lazyotel._follow")
    return follow is None or provider is not follow.PROVIDER


# -- activation -----------------------------------------------------------------------------------


def activate() -> None:
    """Set tracing up (lazyotel's recorder, else the SDK), exactly once, whatever the number of threads.

    Never raises: a failure is one warning on the ``lazyotel`` logger, and tracing is then
    off for the rest of the run.
    """
    if RUNTIME.activated:
        return
    if not STATE.resolved:
        refresh()
    if (STATE.mode != "on" or RUNTIME.override is not None) and not STATE.real:
        # Traced only because lazyotel.testing captures (in any mode): the capture supplies
        # the provider, and nothing may reach the network.
        return
    with RUNTIME.lock:
        if RUNTIME.activated:
            return
        RUNTIME.activating = _thread.get_ident()
        from . import _bounded

        hold = _bounded.Hold()
        try:
            if SETTINGS.deferred:  # bootstrap(endpoint=callable...): known only now
                _config.resolve_deferred(SETTINGS)
            from . import _record

            # Hand-off with a configuration the recorder supports: no SDK in the command.
            if not _record.activate(RUNTIME, SETTINGS):
                with _log.quiet_otel_import():
                    from . import _sdk

                _sdk.activate(RUNTIME, SETTINGS)
            arm_instrumentations()
            _propagate_through_environment()
            if RUNTIME.own is not None and not RUNTIME.exit_registered:
                _register_exit()
        except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
            RUNTIME.failed = True
            RUNTIME.own = RUNTIME.switch = None
            STATE.closed = True
            refresh()
            if RUNTIME.held:  # Ctrl-C cut the wait for the exporter: the user's choice, not a fault
                _log.debug("telemetry is off for this run: activation was interrupted (%s)", describe(exc))
            else:
                _log.warn_once(
                    "telemetry is off for this run: it could not start (%s)",
                    describe(exc),
                )
        finally:
            RUNTIME.activated = True
            RUNTIME.activating = None
            hold.release()


def _propagate_through_environment() -> None:
    """CLI-to-CLI traces: TRACEPARENT in, TRACEPARENT out to child processes. Never raises."""
    try:
        from . import _envcontext

        _envcontext.arm()
        _envcontext.adopt_parent()
    except Exception as exc:  # noqa: BLE001 - a missing parent never stops telemetry
        _log.debug("TRACEPARENT propagation is off (%s)", describe(exc))


def arm_instrumentations() -> None:
    """Instrument the configured libraries (now if imported, else on import); never raises."""
    names = SETTINGS.instrument
    _Deferred.cancel()
    if not names:
        return
    light = None
    if "lazyotel._record" in sys.modules:
        from . import _record

        if _record.owns(RUNTIME):  # lazyotel's recorder records: its own httpx spans serve
            light = _record.light_instrumentor
    if "lazyotel._instrument" not in sys.modules and _Deferred.wait(names, light):
        return
    from . import _instrument

    _instrument.arm(names, light=light)


class _Deferred:
    """Instrumentation that waits for its library before even ``_instrument`` is imported.

    The common case: ``instrument=["httpx"]``, with the contrib instrumentor installed and
    httpx imported later (by the command that makes requests), or never (by the others).
    ``_instrument`` and its set-up cost a traced command about 2 million instructions, a
    quarter of a percent (callgrind, examples/ktrade): one post-import hook waits instead.
    """

    finder: Any = None

    @classmethod
    def wait(cls, names: tuple[str, ...], light: Any) -> bool:
        """Hook the import of every name's library, if each is the contrib layout's (the
        instrumentor installed as ``opentelemetry/instrumentation/<name>``) and none is
        imported yet; False (nothing done) otherwise."""
        for name in names:
            if not name.isidentifier() or name in sys.modules:
                return False
            if not _config.contrib_instrumentor_installed(name):
                return False  # resolved by entry point, or missing: _instrument says which
        from . import _hook

        def imported(_module: str) -> None:
            if cls.finder is finder:  # not cancelled meanwhile
                cls.cancel()
                from . import _instrument

                _instrument.arm(names, light=light)

        finder = cls.finder = _hook.Finder(frozenset(names).__contains__, imported)
        finder.install()
        return True

    @classmethod
    def cancel(cls) -> None:
        finder, cls.finder = cls.finder, None
        if finder is not None:
            finder.remove()


def _timeout(timeout: float | None) -> float:
    from . import _bounded

    if timeout is None:
        return _bounded.flush_timeout()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        msg = f"timeout={timeout!r}: expected a number of seconds >= 0 or None"
        raise ValueError(msg)
    return float(timeout)


def flush(timeout: float | None = None) -> bool:
    """Export the spans ended so far, waiting at most ``timeout`` seconds.

    Args:
        timeout: Seconds to wait; ``None`` means the configured ``flush_timeout``.

    Returns:
        True if everything was handed to the exporter in time (or there was nothing to do).
    """
    from ._bounded import run_bounded

    seconds = _timeout(timeout)
    switch = RUNTIME.switch
    if switch is None:
        return True
    return run_bounded(switch.force_flush, seconds, "flush")


def shutdown(timeout: float | None = None) -> bool:
    """Flush and stop telemetry for the rest of the run, waiting at most ``timeout`` seconds.

    Decorated commands run untraced afterwards. Safe to call more than once.

    Args:
        timeout: Seconds to wait; ``None`` means the configured ``flush_timeout``.

    Returns:
        True if the flush and shutdown finished in time.
    """
    from ._bounded import run_bounded

    seconds = _timeout(timeout)
    with RUNTIME.lock:
        switch, RUNTIME.switch = RUNTIME.switch, None
        STATE.closed = True
        if STATE.resolved:
            refresh()
    if switch is None:
        return True
    done = run_bounded(switch.shutdown, seconds, "shutdown")
    switch.report(seconds)
    return done


def _at_exit() -> None:
    """The bounded exit: the SDK's own unbounded atexit shutdown is never registered."""
    from . import _bounded

    try:
        shutdown(_bounded.flush_timeout())
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C (or a SIGTERM handler's sys.exit) while the exit waits for the collector:
        # stop waiting and exit as the program would have without telemetry, with its own
        # exit code and no "Exception ignored in atexit callback" traceback.
        _log.debug("exit flush interrupted (%s); spans not yet exported are dropped", describe(exc))


def _register_exit() -> None:
    """Register the bounded exit flush (and, where needed, the thread it will run on)."""
    import atexit

    from . import _bounded

    atexit.register(_at_exit)
    RUNTIME.exit_registered = True
    if _bounded.NO_THREADS_AT_EXIT and _bounded.standby is None:
        _bounded.standby = _bounded.Standby()
    _flush_in_worker()


def _flush_in_worker(_: object = None) -> None:
    """multiprocessing's fork and forkserver workers end with ``os._exit``: atexit never runs.

    ``multiprocessing.util.Finalize`` callbacks do run, just before it. Spawned workers are
    fresh interpreters that exit normally, through atexit.
    """
    process = sys.modules.get("multiprocessing.process")
    util = sys.modules.get("multiprocessing.util")
    if process is None or util is None or RUNTIME.switch is None:
        return
    try:
        if process.parent_process() is not None:
            # Low priority: after the worker's own finalizers, which may still end spans.
            util.Finalize(None, _at_exit, exitpriority=-100)
    except Exception as exc:  # noqa: BLE001 - a worker must run even if this fails
        _log.debug("could not register the exit flush of a multiprocessing worker: %s", describe(exc))


#: How long a fork waits for another thread's activation to finish (an exporter build is
#: bounded by 5 s); after that the child starts telemetry afresh.
FORK_WAIT = 7.0
_forking: set[int] = set()  # threads that hold the lock across their fork


def _before_fork() -> None:
    """Let an activation in progress finish, so the child inherits a whole pipeline."""
    if RUNTIME.lock.acquire(timeout=FORK_WAIT):
        _forking.add(_thread.get_ident())


def _after_fork_in_parent() -> None:
    ident = _thread.get_ident()
    if ident in _forking:
        _forking.discard(ident)
        RUNTIME.lock.release()


def _after_fork_in_child() -> None:
    """The child has one thread: locks held by others would be held forever."""
    _forking.clear()
    RUNTIME.lock = _thread.RLock()
    bounded: Any = sys.modules.get("lazyotel._bounded")  # loaded by activation: before it, nothing to do
    if bounded is None:
        return
    if RUNTIME.activating not in (None, _thread.get_ident()):
        # Another thread was activating and the fork did not wait for it: that thread does
        # not exist here, so the child starts telemetry afresh on its next span.
        RUNTIME.activating = None
        RUNTIME.activated = RUNTIME.failed = False
        RUNTIME.own = RUNTIME.switch = None
        if bounded.holding is not None:
            bounded.holding.release(deliver=False)  # the child's main thread gets its handlers back
    bounded.standby = None  # its thread did not survive the fork
    lite: Any = sys.modules.get("lazyotel._lite")
    if lite is not None and type(RUNTIME.own) is lite.Provider:
        RUNTIME.own.after_fork()  # the child's own service.instance.id, as the SDK's provider does
    if RUNTIME.switch is not None:
        if bounded.NO_THREADS_AT_EXIT:
            bounded.standby = bounded.Standby()
        util = sys.modules.get("multiprocessing.util")
        if util is not None:
            # A multiprocessing worker clears its finalizers after the fork, then runs these.
            util.register_after_fork(_at_exit, _flush_in_worker)


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )


def apply_live(changed: list[str]) -> None:
    """Carry configuration changes made after activation into the running pipeline."""
    live = RUNTIME.activated and not RUNTIME.failed
    if "instrument" in changed and (live or RUNTIME.override is not None):
        arm_instrumentations()  # as activation (or capture_spans) would have
    if not changed or not live:
        return
    with RUNTIME.lock:
        try:
            if SETTINGS.deferred:  # bootstrap(endpoint=callable) again after activation
                _config.resolve_deferred(SETTINGS)
            from . import _bounded

            if "lazyotel._record" in sys.modules:
                from . import _record

                if _record.owns(RUNTIME):
                    if not _record.apply_live(RUNTIME, SETTINGS, changed, _bounded.flush_timeout()):
                        _to_sdk()
                    return
            from . import _sdk

            _sdk.apply_live(RUNTIME, SETTINGS, changed, _bounded.flush_timeout())
        except Exception as exc:  # noqa: BLE001
            _log.warn_once("could not apply the new configuration (%s)", describe(exc))


def _to_sdk() -> None:
    """The new configuration needs the SDK (an exporter in the command): the recorder's
    pipeline writes what it holds and the SDK's takes over for the rest of the run."""
    from . import _bounded

    switch = RUNTIME.switch
    RUNTIME.own = RUNTIME.switch = None
    if switch is not None:
        _bounded.run_bounded(switch.shutdown, _bounded.flush_timeout(), "swap")
    _log.debug("the OpenTelemetry SDK records the rest of this run: hand-off no longer applies")
    with _log.quiet_otel_import():
        from . import _sdk

    _sdk.activate(RUNTIME, SETTINGS)
    lite: Any = sys.modules.get("lazyotel._lite")
    if lite is not None:
        lite.to_api()  # the spans _lite made current: the SDK's spans are their children


def deactivate(timeout: float) -> None:
    """Shut lazyotel's pipeline down and forget it, so the next span activates afresh."""
    from ._bounded import run_bounded

    with RUNTIME.lock:
        switch = RUNTIME.switch
        RUNTIME.own = RUNTIME.switch = None
        RUNTIME.activated = RUNTIME.failed = False
        if RUNTIME.exit_registered:
            import atexit

            atexit.unregister(_at_exit)
            RUNTIME.exit_registered = False
    if switch is not None:
        run_bounded(switch.shutdown, timeout, "shutdown")


# -- what lazyotel.testing asks of the hub ----------------------------------------------------------


class Capture:
    """One open ``capture_spans()``: its in-memory exporter, and what it replaced."""

    __slots__ = ("exporter", "lent", "previous", "provider")

    def __init__(self, provider: Any, exporter: InMemorySpanExporter, previous: Any, lent: bool) -> None:
        self.provider, self.exporter, self.previous, self.lent = provider, exporter, previous, lent


def begin_capture(*, deterministic_ids: bool = False) -> Capture:
    """Trace into memory, whatever the mode, until ``end_capture``: nothing reaches the network."""
    with _log.quiet_otel_import():  # a bad OTEL_PYTHON_CONTEXT: one warning, no traceback
        from . import _follow, _sdk

    provider, exporter = _sdk.memory_pipeline(SETTINGS.service_name or "lazyotel-test", deterministic_ids)
    capture = Capture(provider, exporter, RUNTIME.override, lent=False)
    RUNTIME.override = provider
    capture.lent = _follow.lend_global()
    STATE.forced += 1
    refresh()
    arm_instrumentations()
    return capture


def end_capture(capture: Capture) -> None:
    """Close a capture: back to what tracing was before it (reset() inside it: untraced)."""
    STATE.forced = max(STATE.forced - 1, 0)  # 0 already if the block called reset()
    RUNTIME.override = capture.previous
    if capture.lent:
        from . import _follow

        _follow.withdraw_global()
    refresh()
    capture.provider.shutdown()


def begin_real() -> bool:
    """Trace for real (the configured exporter, as in ``on`` mode) until ``end_real``."""
    previous = STATE.real
    STATE.forced += 1
    STATE.real = True
    refresh()
    return previous


def end_real(previous: bool) -> None:
    """Flush and shut the real pipeline down; inside a capture, spans go back to memory only."""
    from . import _bounded

    STATE.forced = max(STATE.forced - 1, 0)  # 0 already if the block called reset()
    STATE.real = previous
    deactivate(_bounded.flush_timeout())
    refresh()


def reset(timeout: float) -> None:
    """Restore OpenTelemetry's globals and lazyotel's own state (see ``lazyotel.testing.reset``)."""
    _Deferred.cancel()
    if "lazyotel._instrument" in sys.modules:
        from . import _instrument

        _instrument.disarm()
    if "lazyotel._envcontext" in sys.modules:
        from . import _envcontext

        _envcontext.disarm()
    deactivate(timeout)
    RUNTIME.override = None
    _log.give_back()  # the loggers the SDK pipeline or the recorder took over
    SETTINGS.restore(_config.Settings())
    STATE.forced = 0
    STATE.closed = STATE.real = False
    invalidate()
    _log.reset()
    if "opentelemetry.trace" in sys.modules:
        from . import _globals

        _globals.reset_all(timeout)


def settings_snapshot() -> _config.Settings:
    """A copy of the settings in force (``restore_settings`` puts it back)."""
    return SETTINGS.copy()


def restore_settings(saved: _config.Settings) -> None:
    SETTINGS.restore(saved)


# -- configuration --------------------------------------------------------------------------------


def configure(caller: str, changes: Mapping[str, Any]) -> list[str]:
    """Check and store ``changes`` (``bootstrap``'s or ``reconfigure``'s), then carry them into
    the running pipeline; return the names that changed. A bad value changes nothing and
    raises, naming ``lazyotel.<caller>(...)``."""
    changed = _config.apply(SETTINGS, changes, caller)  # checks all before storing any
    if "mode" in changed:
        invalidate()
    apply_live(changed)
    return changed
