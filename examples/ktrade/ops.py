"""``ktrade ops ...``: long-running operations. ``follow`` streams from a generator; ``attach``
detaches on Ctrl-C and exits 0 (the operation keeps running on the API)."""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Annotated, Any

import typer

import lazyotel

from . import _api

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

app = typer.Typer(no_args_is_help=True, help="Operations: list, status, cancel, follow, attach.")

OperationId = Annotated[str, typer.Argument(help="Operation id, as printed by data load / models train.")]
Interval = Annotated[float, typer.Option("--interval", "-i", help="Seconds between polls.")]
FINISHED = ("completed", "failed", "cancelled")


def _line(op: dict[str, Any]) -> str:
    return f"{op['operation_id']:<20} {op['type']:<10} {op['status']:<10} {op['progress']:>6.0%}"


@app.command("list")
def list_operations(ctx: typer.Context) -> None:
    """List the API's operations."""
    answer = _api.request(ctx.obj, "GET", "/api/v1/operations")
    _api.show(ctx.obj, answer, "\n".join(_line(op) for op in answer["operations"]) or "no operations")


@app.command("status")
def status(ctx: typer.Context, operation_id: OperationId) -> dict[str, Any]:
    """Show one operation's status and progress."""
    op = _api.request(ctx.obj, "GET", f"/api/v1/operations/{operation_id}")
    _api.show(ctx.obj, op, _line(op))
    return op


@app.command("cancel")
def cancel(ctx: typer.Context, operation_id: OperationId) -> dict[str, Any]:
    """Cancel a running operation."""
    op = _api.request(ctx.obj, "POST", f"/api/v1/operations/{operation_id}/cancel")
    _api.show(ctx.obj, op, _line(op))
    return op


@app.command("follow")
def follow(ctx: typer.Context, operation_id: OperationId, interval: Interval = 0.1) -> None:
    """Print an operation's progress until it finishes."""
    for op in progress_updates(ctx.obj.api_url, operation_id, interval=interval):
        _api.show(ctx.obj, op, _line(op))


@lazyotel.trace_command("ops_follow")
def progress_updates(api_url: str, operation_id: str, *, interval: float) -> Iterator[dict[str, Any]]:
    """Yield the operation's status until it finishes: one span for the whole stream."""
    import httpx

    with httpx.Client(base_url=api_url, timeout=_api.TIMEOUT) as client:
        while True:
            op = _api.call(client, "GET", f"/api/v1/operations/{operation_id}")
            yield op
            if op["status"] in FINISHED:
                return
            time.sleep(interval)


@app.command("attach")
def attach(ctx: typer.Context, operation_id: OperationId, interval: Interval = 0.2) -> dict[str, Any]:
    """Watch an operation; Ctrl-C detaches and leaves it running."""
    import httpx

    typer.echo(f"attached to {operation_id}; Ctrl-C detaches (the operation keeps running)", err=True)
    with _ctrl_c_sets() as detach, httpx.Client(base_url=ctx.obj.api_url, timeout=_api.TIMEOUT) as client:
        while not detach.is_set():
            op = _api.call(client, "GET", f"/api/v1/operations/{operation_id}")
            typer.echo(_line(op))
            if op["status"] in FINISHED:
                return op
            detach.wait(interval)
    typer.echo(f"detached from {operation_id}", err=True)
    raise typer.Exit(0)


@contextmanager
def _ctrl_c_sets() -> Iterator[threading.Event]:
    """While the block runs, Ctrl-C sets the event instead of raising ``KeyboardInterrupt``.

    A ``KeyboardInterrupt`` can land anywhere, including between a library's lock acquire
    and release: raised as httpcore's ``ThreadLock.__exit__`` starts, it leaves the
    connection pool's lock held, and closing the client then waits for it forever. A
    command that detaches cleanly stops between polls instead (a poll in flight finishes
    first, within ``_api.TIMEOUT``).
    """
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event  # signal handlers belong to the main thread: Ctrl-C acts as usual
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)
