"""Bounded calls: run a piece of telemetry in a daemon thread and wait for it at most so long;
hold Ctrl-C while activation runs and deliver it afterwards.

A leaf: imports only ``_thread``, ``os`` and ``sys`` at module level; reads ``RUNTIME`` (the
signals held, the thread activating), which the hub writes.
"""

from __future__ import annotations

import _thread
import os
import sys

from ._config import SETTINGS
from ._log import debug, describe, warn_once
from ._state import RUNTIME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


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
        global standby
        spare, standby = standby, None
        if spare is None:
            return (False, exc)
        thread = spare.run(target)
    if not RUNTIME.held and not RUNTIME.activating:
        # join() raises OverflowError past TIMEOUT_MAX (~292 years): a huge timeout means "wait".
        thread.join(min(max(timeout, 0.0), _thread.TIMEOUT_MAX))
    else:
        # During activation a held Ctrl-C ends the wait at once (see ``Hold``).
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
        debug("%s still running after %.3fs; not waiting", name, timeout)
        return False
    if not outcome[0]:
        debug("%s failed: %s", name, describe(outcome[1]))
    return True


#: CPython 3.12.0 and 3.12.1 refuse to start a thread once the interpreter shuts down, from
#: threading's exit hooks on (3.12.2 allows it again in atexit, gh-113964); the bounded exit
#: flush needs one, so there a thread is started beforehand and waits for it.
NO_THREADS_AT_EXIT = sys.version_info[:2] == (3, 12) and sys.version_info[2] < 2


class Standby:
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


standby: Standby | None = None  # the spare thread, where one is needed


class Hold:
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
        global holding
        holding = self

    def release(self, deliver: bool = True) -> None:
        global holding
        if holding is self:
            holding = None
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


holding: Hold | None = None  # the hold in force, if any


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
        now: tuple[Any, int] | None = (frame, frame.f_lasti)
        if now == seen and not _in_telemetry(frame):  # frames compare by identity
            break
        seen = now
        time.sleep(0.002)
    frame = now = seen = None  # no reference to the main thread's frames while it handles the signal
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


def flush_timeout() -> float:
    """How long the exit may wait: ``LAZYOTEL_FLUSH_TIMEOUT`` wins over ``flush_timeout``; a
    malformed value is ignored (one warning)."""
    raw = os.environ.get("LAZYOTEL_FLUSH_TIMEOUT", "").strip()
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if 0 <= value < float("inf"):
            return value
        warn_once(
            "LAZYOTEL_FLUSH_TIMEOUT=%r is not a number of seconds >= 0; using %s",
            raw,
            SETTINGS.flush_timeout,
        )
    return SETTINGS.flush_timeout
