"""CLI-to-CLI traces: ``TRACEPARENT`` / ``TRACESTATE`` environment variables as context carriers.

The OpenTelemetry specification ("Environment Variables as Context Propagation Carriers")
names them after the W3C headers. Imported by the hub at activation only, so a run that
traces nothing patches nothing and pays nothing:

- ``adopt_parent()``: the process's ``TRACEPARENT`` becomes the parent of its first spans.
- ``arm()``: processes started while a span is current get ``TRACEPARENT``/``TRACESTATE`` of
  that span: ``subprocess.Popen`` (so ``run``, ``call``, ``check_output``, ``os.popen`` and
  ``asyncio.create_subprocess_*``), ``os.exec*`` and ``os.spawn*`` (they end in ``os.execv`` /
  ``os.execve``), ``os.posix_spawn`` / ``os.posix_spawnp``. A ``TRACEPARENT`` the caller put
  in the child's environment is kept: only the one this process inherited is replaced.

Never imports the hub; whatever goes wrong here leaves the child's environment as given.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PARENT_VAR, STATE_VAR = "TRACEPARENT", "TRACESTATE"
# ``env`` is the 11th parameter of Popen.__init__ (after self) on every supported Python.
_POPEN_ENV_INDEX = 10


class _Armed:
    done = False
    inherited: str | None = None  # the TRACEPARENT this process started with


_ARMED = _Armed()


def adopt_parent() -> bool:
    """Make the context in ``TRACEPARENT``/``TRACESTATE`` current, unless a span already is.

    Called at activation, just before the first span starts, in its thread: that span (the
    command's) becomes a child of the process that started this one. True if adopted.
    """
    raw = os.environ.get(PARENT_VAR, "").strip()
    if not raw:
        return False
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if trace.get_current_span().get_span_context().is_valid:
        return False
    carrier = {"traceparent": raw, "tracestate": os.environ.get(STATE_VAR, "")}
    parent = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return False  # malformed: the spec says to ignore it
    context.attach(parent)  # never detached: the whole run descends from it
    return True


def current_carrier() -> dict[str, str] | None:
    """``{"TRACEPARENT": ..., "TRACESTATE": ...}`` of the current span, or None if there is none."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    values = {PARENT_VAR: f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"}
    state = ctx.trace_state.to_header() if ctx.trace_state else ""
    if state:
        values[STATE_VAR] = state
    return values


def child_environment(env: Mapping[Any, Any] | None) -> Any:
    """The environment a child should get: ``env`` (None: this process's) plus the carrier.

    Returns ``env`` itself when there is nothing to add, when the caller set ``TRACEPARENT``
    (a value other than the one this process inherited), or when ``env`` has bytes keys.
    Never mutates ``env``.
    """
    values = current_carrier()
    if values is None:
        return env
    base: Mapping[Any, Any] = os.environ if env is None else env
    if any(isinstance(key, bytes) for key in base):
        return env
    given = base.get(PARENT_VAR)
    if given is not None and given != _ARMED.inherited:
        return env  # the caller's own choice
    new = dict(base)
    new.pop(STATE_VAR, None)  # an inherited TRACESTATE belongs to the inherited parent
    new.update(values)
    return new


def _guarded(env: Any) -> Any:
    try:
        return child_environment(env)
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller's process start
        return env


def arm() -> None:
    """Patch the process-starting functions, once. Never raises."""
    if _ARMED.done:
        return
    _ARMED.done = True
    _ARMED.inherited = os.environ.get(PARENT_VAR)
    try:
        _patch_popen()
        _patch_os()
    except Exception:  # noqa: BLE001, S110 - no propagation is better than a broken command
        pass


def _patch_popen() -> None:
    import subprocess

    original = subprocess.Popen.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > _POPEN_ENV_INDEX:
            args = (*args[:_POPEN_ENV_INDEX], _guarded(args[_POPEN_ENV_INDEX]), *args[_POPEN_ENV_INDEX + 1 :])
        else:
            env = kwargs.get("env")
            new = _guarded(env)
            if new is not env:
                kwargs["env"] = new
        original(self, *args, **kwargs)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    subprocess.Popen.__init__ = __init__  # type: ignore[method-assign]


def _patch_os() -> None:
    execv, execve = os.execv, os.execve

    def patched_execv(path: Any, argv: Any) -> None:
        env = _guarded(None)
        if env is None:
            execv(path, argv)
        else:
            execve(path, argv, env)

    def patched_execve(path: Any, argv: Any, env: Any) -> None:
        execve(path, argv, _guarded(env))

    setattr(os, "execv", patched_execv)  # noqa: B010 - typeshed types them NoReturn
    setattr(os, "execve", patched_execve)  # noqa: B010
    for name in ("posix_spawn", "posix_spawnp"):
        spawn = getattr(os, name, None)
        if spawn is not None:
            setattr(os, name, _spawn_patch(spawn))


def _spawn_patch(spawn: Any) -> Any:
    def patched(path: Any, argv: Any, env: Any, *args: Any, **kwargs: Any) -> int:
        return spawn(path, argv, _guarded(env), *args, **kwargs)  # type: ignore[no-any-return]

    patched.__name__ = spawn.__name__
    patched.__wrapped__ = spawn  # type: ignore[attr-defined]
    return patched
