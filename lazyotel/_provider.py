"""Activation, the lazy tracer, flush, shutdown and the bounded exit.

Nothing here imports OpenTelemetry at module level: ``activate()`` imports the SDK on the
first real span, exactly once, under a lock. The OpenTelemetry-facing classes live in
``_follow`` (API only) and ``_sdk`` (SDK), which are imported only from here, on demand.
"""

from __future__ import annotations

import _thread
import os
import sys

from . import _config
from ._config import SETTINGS, STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from opentelemetry.trace import Tracer
    from opentelemetry.util.types import Attributes

    # For checkers LazyTracer is the OpenTelemetry Tracer it stands in for; at run time it
    # must not import OpenTelemetry, so it derives from object.
    _TracerBase = Tracer
else:
    _TracerBase = object


class Runtime:
    """What activation built. Swapped pieces are replaced whole, never mutated in place."""

    __slots__ = (
        "activated",
        "activating",
        "exit_registered",
        "failed",
        "held",
        "lock",
        "override",
        "own",
        "switch",
    )

    def __init__(self) -> None:
        self.lock = _thread.RLock()
        self.activated = False  # activation ran (successfully or not)
        self.activating: int | None = None  # the thread inside activation, if one is
        self.failed = False  # activation failed: telemetry is off for the run
        self.own: Any = None  # the SDK TracerProvider lazyotel built, if it built one
        self.switch: Any = None  # its processor, whose exporter reconfigure() swaps
        self.override: Any = None  # an in-memory provider installed by lazyotel.testing
        self.exit_registered = False
        # Signals that arrived while activation held them (see ``_Hold``), in order.
        self.held: list[int] = []


RUNTIME = Runtime()


def activate() -> None:
    """Import the SDK and set tracing up, exactly once, whatever the number of threads.

    Never raises: a failure is one warning on the ``lazyotel`` logger, and tracing is then
    off for the rest of the run.
    """
    if RUNTIME.activated:
        return
    if not STATE.resolved:
        _config.refresh()
    if (STATE.mode != "on" or RUNTIME.override is not None) and not STATE.real:
        # Traced only because lazyotel.testing captures (in any mode): the capture supplies
        # the provider, and nothing may reach the network.
        return
    with RUNTIME.lock:
        if RUNTIME.activated:
            return
        RUNTIME.activating = _thread.get_ident()
        hold = _Hold()
        try:
            if SETTINGS.deferred:  # bootstrap(endpoint=callable...): known only now
                _config.resolve_deferred(SETTINGS)
            with _config.quiet_otel_import():
                from . import _sdk

            _sdk.activate(RUNTIME, SETTINGS)
            _propagate_through_environment()
            if RUNTIME.own is not None and not RUNTIME.exit_registered:
                _register_exit()
        except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
            RUNTIME.failed = True
            RUNTIME.own = RUNTIME.switch = None
            STATE.closed = True
            _config.refresh()
            if RUNTIME.held:  # Ctrl-C cut the wait for the exporter: the user's choice, not a fault
                _config.debug("telemetry is off for this run: activation was interrupted (%s)", describe(exc))
            else:
                _config.warn_once(
                    "telemetry is off for this run: it could not start (%s)",
                    describe(exc),
                )
        finally:
            RUNTIME.activated = True
            RUNTIME.activating = None
            hold.release()


class _Hold:
    """Holds Ctrl-C (and any Python-handled SIGTERM) while activation runs on the main thread.

    A ``KeyboardInterrupt`` raised inside the SDK import or the exporter build would skip the
    command's own handler (its body has not started yet) and could leave a module half
    imported. Held signals are sent again to the main thread once it runs the command's code,
    so the command sees its Ctrl-C where it would have seen it without telemetry. A wait for
    the exporter stops at once (activation then fails quietly: the user asked to stop).
    """

    __slots__ = ("saved",)

    def __init__(self) -> None:
        self.saved: list[tuple[int, Any]] = []
        RUNTIME.held = []
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return  # signals are handled on the main thread only; it is not held here
        try:
            for signum in (signal.SIGINT, signal.SIGTERM):
                handler = signal.getsignal(signum)
                if callable(handler):  # Python handles it (SIG_DFL and SIG_IGN act as before)
                    signal.signal(signum, _held)
                    self.saved.append((signum, handler))
        except Exception:  # noqa: BLE001 - not the main interpreter, say: hold nothing
            self.release()
        global _holding
        _holding = self

    def release(self, deliver: bool = True) -> None:
        global _holding
        if _holding is self:
            _holding = None
        if not self.saved:
            return
        import signal

        for signum, handler in self.saved:
            try:
                if signal.getsignal(signum) is _held:  # unless the command replaced it meanwhile
                    signal.signal(signum, handler)
            except (ValueError, OSError):
                pass
        self.saved = []
        held, RUNTIME.held = RUNTIME.held, []
        if held and deliver:
            import threading

            ident = threading.main_thread().ident
            try:
                threading.Thread(
                    target=_deliver, args=(held, ident), name="lazyotel-signal", daemon=True
                ).start()
            except RuntimeError:  # no thread at interpreter shutdown: deliver at once
                _deliver(held, ident, wait=False)


_holding: _Hold | None = None  # the hold in force, if any


def _held(signum: int, frame: Any) -> None:
    """The handler while activation runs: note the signal, deliver it afterwards."""
    RUNTIME.held.append(signum)


#: How long a held signal waits for the main thread to leave telemetry code.
DELIVER_WITHIN = 2.0


def _deliver(signums: list[int], ident: int | None, wait: bool = True) -> None:
    """Send held signals to the main thread once it runs the command's code again."""
    import signal
    import time

    # Wait until the main thread runs the command's code and waits there (sleep, I/O, a
    # lock: its innermost frame stands still), where a real Ctrl-C would most likely land.
    deadline = time.monotonic() + (DELIVER_WITHIN if wait else 0.0)
    seen: tuple[Any, int] | None = None
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(ident or 0)
        if frame is None:
            break
        now = (frame, frame.f_lasti)
        if seen is not None and now[0] is seen[0] and now[1] == seen[1] and not _in_telemetry(frame):
            break
        seen = now
        del frame, now
        time.sleep(0.002)
    seen = None
    for signum in dict.fromkeys(signums):
        if ident is not None and hasattr(signal, "pthread_kill"):
            signal.pthread_kill(ident, signum)
        else:
            os.kill(os.getpid(), signum)


def _in_telemetry(frame: Any) -> bool:
    """True while the innermost frames (down to a command wrapper) are lazyotel's or OpenTelemetry's."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "lazyotel._decorator" and frame.f_code.co_name in ("wrapper", "_traced_generator"):
            return False  # everything above a command's wrapper is the command
        if module.startswith(("lazyotel.", "opentelemetry.")) or module in ("lazyotel", "opentelemetry"):
            return True
        frame = frame.f_back
    return False


def _propagate_through_environment() -> None:
    """CLI-to-CLI traces: TRACEPARENT in, TRACEPARENT out to child processes. Never raises."""
    try:
        from . import _envcontext

        _envcontext.arm()
        _envcontext.adopt_parent()
    except Exception as exc:  # noqa: BLE001 - a missing parent never stops telemetry
        _config.debug("TRACEPARENT propagation is off (%s)", describe(exc))


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a telemetry fault."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_bounded(fn: Callable[[], Any], timeout: float, name: str) -> tuple[bool, Any] | None:
    """Call ``fn`` in a daemon thread and wait at most ``timeout`` seconds.

    Returns:
        ``(True, result)`` or ``(False, exception)``, or None if ``fn`` is still running. A
        thread left behind is a daemon, so it never holds the interpreter's exit.
    """
    import threading
    import time

    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"lazyotel-{name}", daemon=True)
    try:
        thread.start()
    except RuntimeError as exc:  # "can't create new thread at interpreter shutdown" (3.12.0/1)
        global _standby
        standby, _standby = _standby, None
        if standby is None:
            return (False, exc)
        thread = standby.run(target)
    if not RUNTIME.held and not RUNTIME.activating:
        # join() raises OverflowError past TIMEOUT_MAX (~292 years): a huge timeout means "wait".
        thread.join(min(max(timeout, 0.0), _thread.TIMEOUT_MAX))
    else:
        # During activation a held Ctrl-C ends the wait at once (see ``_Hold``).
        deadline = time.monotonic() + max(timeout, 0.0)
        while thread.is_alive() and not RUNTIME.held:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            thread.join(min(remaining, 0.05))
    return outcome[0] if outcome else None


def run_bounded(fn: Callable[[], object], timeout: float, name: str) -> bool:
    """Run ``fn`` for at most ``timeout`` seconds (see ``call_bounded``); True if it finished."""
    outcome = call_bounded(fn, timeout, name)
    if outcome is None:
        _config.debug("%s still running after %.3fs; not waiting", name, timeout)
        return False
    if not outcome[0]:
        _config.debug("%s failed: %s", name, describe(outcome[1]))
    return True


def arm_instrumentations() -> None:
    """Instrument the configured libraries (now if imported, else on import); never raises."""
    if SETTINGS.instrument:
        from . import _instrument

        _instrument.arm(SETTINGS.instrument)


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        return SETTINGS.effective_flush_timeout()
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
    seconds = _timeout(timeout)
    with RUNTIME.lock:
        switch, RUNTIME.switch = RUNTIME.switch, None
        STATE.closed = True
        if STATE.resolved:
            _config.refresh()
    if switch is None:
        return True
    done = run_bounded(switch.shutdown, seconds, "shutdown")
    switch.report(seconds)
    return done


def _at_exit() -> None:
    """The bounded exit: the SDK's own unbounded atexit shutdown is never registered."""
    try:
        shutdown(SETTINGS.effective_flush_timeout())
    except (KeyboardInterrupt, SystemExit) as exc:
        # Ctrl-C (or a SIGTERM handler's sys.exit) while the exit waits for the collector:
        # stop waiting and exit as the program would have without telemetry, with its own
        # exit code and no "Exception ignored in atexit callback" traceback.
        _config.debug("exit flush interrupted (%s); spans not yet exported are dropped", describe(exc))


#: CPython 3.12.0 and 3.12.1 refuse to start a thread once the interpreter shuts down, from
#: threading's exit hooks on (3.12.2 allows it again in atexit, gh-113964); the bounded exit
#: flush needs one, so there a thread is started beforehand and waits for it.
_NO_THREADS_AT_EXIT = sys.version_info[:2] == (3, 12) and sys.version_info[2] < 2


class _Standby:
    """A daemon thread started while threads may start; it runs one call when asked to."""

    __slots__ = ("thread", "wake", "work")

    def __init__(self) -> None:
        import threading

        self.work: list[Callable[[], None]] = []
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="lazyotel-exit", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.wake.wait()
        self.work[0]()

    def run(self, target: Callable[[], None]) -> Any:
        """Run ``target`` on the standby thread; return the thread to join."""
        self.work.append(target)
        self.wake.set()
        return self.thread


_standby: _Standby | None = None


def _register_exit() -> None:
    """Register the bounded exit flush (and, where needed, the thread it will run on)."""
    global _standby
    import atexit

    atexit.register(_at_exit)
    RUNTIME.exit_registered = True
    if _NO_THREADS_AT_EXIT and _standby is None:
        _standby = _Standby()
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
        _config.debug("could not register the exit flush of a multiprocessing worker: %s", describe(exc))


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
    if RUNTIME.activating not in (None, _thread.get_ident()):
        # Another thread was activating and the fork did not wait for it: that thread does
        # not exist here, so the child starts telemetry afresh on its next span.
        RUNTIME.activating = None
        RUNTIME.activated = RUNTIME.failed = False
        RUNTIME.own = RUNTIME.switch = None
        if _holding is not None:
            _holding.release(deliver=False)  # the child's main thread gets its handlers back
    global _standby
    _standby = None  # its thread did not survive the fork
    if RUNTIME.switch is not None:
        if _NO_THREADS_AT_EXIT:
            _standby = _Standby()
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
            from . import _sdk

            _sdk.apply_live(RUNTIME, SETTINGS, changed)
        except Exception as exc:  # noqa: BLE001
            _config.warn_once("could not apply the new configuration (%s)", describe(exc))


def deactivate(timeout: float) -> None:
    """Shut lazyotel's pipeline down and forget it, so the next span activates afresh."""
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


class LazyTracer(_TracerBase):
    """A tracer that is safe to create at module level: it imports nothing until used.

    Each span asks whether tracing is on. If not (``off`` or ``test`` mode, after
    ``shutdown()``), it gets a no-op span: nothing imported, no OpenTelemetry global read or
    loaded (in ``test`` mode, a provider a test installed itself is still followed).
    Otherwise telemetry activates and the span goes to a tracer that follows the current
    provider, so it survives ``reconfigure`` and test resets.
    """

    __slots__ = ("_args", "_tracer")

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> None:
        self._args = (name, version, schema_url, attributes)
        self._tracer: Any = None

    def _resolve(self) -> Any:
        """The following tracer, or None when this span is untraced."""
        if STATE.bypass if STATE.resolved else _config.refresh():
            if STATE.mode != "test" or STATE.closed or not _test_provider():
                return None
        elif not RUNTIME.activated:
            activate()
            if STATE.bypass:  # activation failed: telemetry is off for the run
                return None
        tracer = self._tracer
        if tracer is None:
            with _config.quiet_otel_import():
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


_noop: Any = None  # lazyotel._noop, loaded by the first span (the pytest plugin's budget is 5 modules)


def _load_noop() -> Any:
    global _noop
    from . import _noop as module

    _noop = module
    return module


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
