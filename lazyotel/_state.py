"""The hub's records: ``STATE`` (the per-call switch) and ``RUNTIME`` (what activation built).

A leaf, so that the pipelines can read what the hub owns without importing the hub. Only the
hub (``lazyotel._provider``) writes them; everything else reads. Imports only ``_thread``.
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class State:
    """The per-call switch. ``bypass`` is the only thing a bypassed call reads."""

    __slots__ = ("bypass", "closed", "forced", "mode", "real", "resolved")

    def __init__(self) -> None:
        self.bypass = False  # True only once the mode is known to be off or test
        self.resolved = False
        self.mode = "on"
        self.forced = 0  # > 0 while lazyotel.testing turns tracing on inside a test
        self.closed = False  # after shutdown() or a failed activation: untraced for the run
        self.real = False  # lazyotel.testing.enabled(): build the real pipeline despite the mode


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
        # Signals that arrived while activation held them (see ``_bounded.Hold``), in order.
        self.held: list[int] = []


STATE = State()
RUNTIME = Runtime()
