"""ktrade with no telemetry at all: the baseline of the start-up benchmarks.

The same command modules, run with a stand-in ``lazyotel`` whose decorator returns the function
unchanged, so the app is exactly what it would be had telemetry never been added::

    python -m examples.ktrade.plain --help

Run it, do not import it: the stand-in replaces ``lazyotel`` in ``sys.modules``.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def _unchanged(name: Any = None, **options: Any) -> Any:
    if callable(name):  # bare @trace_command
        return name
    return lambda func: func


def install_stand_in() -> None:
    """Make ``import lazyotel`` give a module that does nothing."""
    stand_in = types.ModuleType("lazyotel", "No telemetry (examples.ktrade.plain).")
    stand_in.bootstrap = stand_in.reconfigure = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    stand_in.trace_command = _unchanged  # type: ignore[attr-defined]
    stand_in.trace_app = lambda app, **options: app  # type: ignore[attr-defined]
    sys.modules["lazyotel"] = stand_in


if __name__ == "__main__":
    install_stand_in()
    from examples.ktrade.cli import main

    main()
