"""Misuse that type checkers must reject: each line carries the error both checkers report.

mypy runs with ``warn_unused_ignores`` (strict), and pyright with ``reportUnnecessaryTypeIgnoreComment``,
so an ignore that is no longer needed (the misuse type-checks) fails the check.
"""

from __future__ import annotations

import lazyotel


@lazyotel.trace_command("data_show")
def show(symbol: str) -> int:
    return len(symbol)


show(3)  # type: ignore[arg-type]
lazyotel.trace_command("data_show", attributes={"bad": object()})  # type: ignore[dict-item]
lazyotel.bootstrap(flush_timeout="1")  # type: ignore[arg-type]
lazyotel.get_tracer(b"x")  # type: ignore[arg-type]
lazyotel.trace_command(42)  # type: ignore[call-overload]
