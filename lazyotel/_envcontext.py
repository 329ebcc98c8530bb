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

With ``bootstrap(subprocess_spans=True)``, a ``subprocess.Popen`` started while a span is
current also gets a CLIENT span (``process.command_args`` redacted, ``process.executable.name``,
``process.pid``, ``process.exit.code``), the parent of the child's own spans, ended when
``wait()``/``poll()`` (so ``run``, ``communicate``, ``with Popen(...)``) sees the exit. asyncio's
children are reaped by the event loop, not through ``wait()``: they get the context, no span.

Never imports the hub; whatever goes wrong here leaves the child's environment as given.
"""

from __future__ import annotations

import os
import sys

from . import _lite, _redact
from ._config import SETTINGS
from ._state import RUNTIME

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
    # (owner, attribute, original, patch) of every patch, so that disarm() can undo them
    patches: list[tuple[Any, str, Any, Any]] = []  # noqa: RUF012 - one instance, module state


_ARMED = _Armed()


def adopt_parent() -> bool:
    """Make the context in ``TRACEPARENT``/``TRACESTATE`` current, unless a span already is.

    Called at activation, just before the first span starts, in its thread: that span (the
    command's) becomes a child of the process that started this one. True if adopted.
    """
    raw = os.environ.get(PARENT_VAR, "").strip()
    if not raw:
        return False
    if _lite.recording() and _lite.ApiTraits.get()[1]:
        return _adopt_lite(raw)
    # Otherwise the API's propagator decides (importing it promotes a run _lite records):
    # an opentelemetry-api older than 1.45 reads a tracestate by other rules than _w3c's.
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


def _adopt_lite(raw: str) -> bool:
    """``adopt_parent`` while ``_lite`` records: parsed by ``_w3c`` (the API propagator's rules)."""
    if _lite.current_span() is not None:
        return False
    from . import _w3c

    parsed = _w3c.parse_traceparent(raw, os.environ.get(STATE_VAR, ""))
    if parsed is None:
        return False  # malformed: the spec says to ignore it
    trace_id, span_id, flags, entries = parsed
    state = _lite.TraceState(entries) if entries else _lite.EMPTY_STATE
    context = _lite.SpanContext(trace_id, span_id, True, _lite.Flags(flags), state)
    _lite.attach(_lite.NonRecordingSpan(context))  # never detached: the whole run descends from it
    return True


def _current_span() -> Any:
    """The current span: ``_lite``'s while it records (no import), else OpenTelemetry's, else
    (a context the promotion did not reach) ``_lite``'s."""
    if _lite.recording():
        return _lite.current_span()
    from opentelemetry import trace

    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        return _lite.current_span() or span
    return span


def current_carrier(span: Any = None) -> dict[str, str] | None:
    """``{"TRACEPARENT": ..., "TRACESTATE": ...}`` of ``span`` (default: the current one), or None."""
    span = span or _current_span()
    if span is None:
        return None
    ctx = _lite.context_of(span)
    if not ctx.is_valid:
        return None
    values = {PARENT_VAR: f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"}
    state = ctx.trace_state.to_header() if ctx.trace_state else ""
    if state:
        values[STATE_VAR] = state
    return values


def child_environment(env: Mapping[Any, Any] | None, span: Any = None) -> Any:
    """The environment a child should get: ``env`` (None: this process's) plus the carrier.

    Returns ``env`` itself when there is nothing to add, when the caller set ``TRACEPARENT``
    (a value other than the one this process inherited), or when ``env`` has bytes keys.
    Never mutates ``env``.
    """
    values = current_carrier(span)
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


def _guarded(env: Any, span: Any = None) -> Any:
    try:
        return child_environment(env, span)
    except Exception:  # noqa: BLE001 - telemetry never breaks the caller's process start
        return env


# -- CLIENT spans for subprocess.Popen --------------------------------------------------------------

#: Caps on ``process.command_args``, as for ``cli.args``: a command line can be huge.
MAX_ARGS, MAX_ARG_CHARS = 128, 1024
_SPAN_ATTR = "_lazyotel_span"


def command_args(args: Any) -> list[str]:
    """``args`` of ``Popen`` as a list of strings, values of secret-looking options redacted.

    ``--token VALUE``, ``--token=VALUE`` and ``DB_PASSWORD=VALUE`` are redacted when the name
    names a secret, by the same rule as ``cli.args`` (``_redact``: words, not substrings); a shell
    string is split on white space.
    """
    if isinstance(args, (str, bytes, os.PathLike)):
        items = os.fsdecode(args).split() or [""]
    else:
        items = [os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args]
    out: list[str] = []
    hide_next = False
    for item in items[:MAX_ARGS]:
        if hide_next:
            out.append(_redact.REDACTED)
            hide_next = False
            continue
        how = _redact.option(item)  # the rule of cli.args and process.command_args
        if how == _redact.HIDES_VALUE:
            out.append(_redact.hide_value(item))
            continue
        hide_next = how == _redact.HIDES_NEXT
        out.append(item if len(item) <= MAX_ARG_CHARS else item[:MAX_ARG_CHARS] + "...")
    if len(items) > MAX_ARGS:
        out.append(f"[{len(items) - MAX_ARGS} more]")
    return out


def _start_client_span(args: Any, caller: str) -> Any:
    """A CLIENT span for a child about to start, or None (nothing current, or not wanted).

    Called by ``_client`` once ``subprocess_spans`` is known to be on.
    """
    if caller.startswith("asyncio."):
        return None  # asyncio's children are reaped by the event loop: see the module docstring
    current = _current_span()
    if current is None or not _lite.context_of(current).is_valid:
        return None
    argv = command_args(args)
    name = os.path.basename(argv[0]) if argv else "subprocess"
    attributes = {"process.command_args": argv, "process.executable.name": name}
    if _lite.recording():
        tracer = RUNTIME.own.get_tracer("lazyotel.subprocess")
        return tracer.start_span(name, kind=_lite.SpanKind.CLIENT, attributes=attributes)
    from opentelemetry import trace

    return trace.get_tracer("lazyotel.subprocess").start_span(
        name, kind=trace.SpanKind.CLIENT, attributes=attributes
    )


def _client(args: Any) -> Any:
    if not SETTINGS.subprocess_spans:
        return None
    try:
        caller = sys._getframe(2).f_globals.get("__name__", "")  # Popen's caller
        return _start_client_span(args, str(caller))
    except Exception:  # noqa: BLE001
        return None


def _end_client_span(span: Any, returncode: int | None, exc: BaseException | None = None) -> None:
    try:
        _, Status, StatusCode = _lite.statuses(span)
        if exc is not None:  # the child never started (no such program...)
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        elif returncode is not None:
            span.set_attribute("process.exit.code", returncode)
            if returncode != 0:
                span.set_attribute("error.type", str(returncode))
                span.set_status(Status(StatusCode.ERROR, f"exit code {returncode}"))
        span.end()
    except Exception:  # noqa: BLE001, S110 - never reaches the caller
        pass


def _ended(popen: Any) -> None:
    """After wait()/poll(): end the child's CLIENT span once its exit code is known."""
    span = popen.__dict__.get(_SPAN_ATTR)
    if span is not None and popen.returncode is not None:
        del popen.__dict__[_SPAN_ATTR]
        _end_client_span(span, popen.returncode)


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


def disarm() -> None:
    """Undo the patches (for ``lazyotel.testing.reset``); one patched over since is left alone."""
    for owner, name, original, patch in reversed(_ARMED.patches):
        if owner.__dict__.get(name) is patch:
            setattr(owner, name, original)
    _ARMED.patches = []
    _ARMED.done = False


def _patch(owner: Any, name: str, patch: Any) -> None:
    _ARMED.patches.append((owner, name, getattr(owner, name), patch))
    setattr(owner, name, patch)


def _patch_popen() -> None:
    import subprocess

    popen = subprocess.Popen
    original, wait, poll = popen.__init__, popen.wait, popen.poll

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        span = _client(args[0] if args else kwargs.get("args", ()))
        if len(args) > _POPEN_ENV_INDEX:
            args = (
                *args[:_POPEN_ENV_INDEX],
                _guarded(args[_POPEN_ENV_INDEX], span),
                *args[_POPEN_ENV_INDEX + 1 :],
            )
        else:
            env = kwargs.get("env")
            new = _guarded(env, span)
            if new is not env:
                kwargs["env"] = new
        if span is None:
            original(self, *args, **kwargs)
            return
        try:
            original(self, *args, **kwargs)
        except BaseException as exc:
            _end_client_span(span, None, exc)
            raise
        try:
            span.set_attribute("process.pid", self.pid)
            self.__dict__[_SPAN_ATTR] = span
        except Exception:  # noqa: BLE001
            _end_client_span(span, None)

    def patched_wait(self: Any, timeout: float | None = None) -> int:
        try:
            return wait(self, timeout)
        finally:
            if _SPAN_ATTR in self.__dict__:
                _ended(self)

    def patched_poll(self: Any) -> int | None:
        code = poll(self)
        if _SPAN_ATTR in self.__dict__:
            _ended(self)
        return code

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    _patch(popen, "__init__", __init__)
    _patch(popen, "wait", patched_wait)
    _patch(popen, "poll", patched_poll)


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

    _patch(os, "execv", patched_execv)
    _patch(os, "execve", patched_execve)
    for name in ("posix_spawn", "posix_spawnp"):
        spawn = getattr(os, name, None)
        if spawn is not None:
            _patch(os, name, _spawn_patch(spawn))


def _spawn_patch(spawn: Any) -> Any:
    def patched(path: Any, argv: Any, env: Any, *args: Any, **kwargs: Any) -> int:
        return spawn(path, argv, _guarded(env), *args, **kwargs)  # type: ignore[no-any-return]

    patched.__name__ = spawn.__name__
    patched.__wrapped__ = spawn  # type: ignore[attr-defined]
    return patched
