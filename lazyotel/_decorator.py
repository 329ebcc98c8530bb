"""``trace_command``: a span for every CLI command, at no cost until one is really made.

Decoration imports nothing (no OpenTelemetry, no ``inspect``, no ``functools``): the kind of
callable is read from its code flags, and the wrapper's metadata is copied by hand. A
bypassed call (``off`` or ``test`` mode) reads one bool and calls the function. The active
path (``_command``) imports the OpenTelemetry API, ``_follow`` and ``_capture`` on its first call.
"""

from __future__ import annotations

import sys

from ._command import Command, _code_of, unwrap_partial
from ._state import STATE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, NoReturn, TypeVar, overload

    from opentelemetry.util.types import AttributeValue

    from ._config import CaptureSpec

    # Bound to callables so that a name (a str) never matches the bare form's overload.
    _F = TypeVar("_F", bound=Callable[..., Any])
else:

    def overload(fn: object) -> object:  # ``typing`` costs milliseconds; the overloads are for checkers
        return fn


# Code flags (Include/cpython/code.h); reading them avoids importing ``inspect``.
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


# Attribute value types OpenTelemetry accepts (sequences of one of them too).
_PRIMITIVES = (str, bool, int, float)


@overload
def trace_command(name: _F, /) -> _F: ...


@overload
def trace_command(  # noqa: F811 - ruff does not see through the TYPE_CHECKING-only import
    name: str | None = None,
    *,
    attributes: Mapping[str, AttributeValue] | None = None,
    capture_args: CaptureSpec | None = None,
    result_attributes: Callable[[Any], Mapping[str, AttributeValue] | None] | None = None,
) -> Callable[[_F], _F]: ...


def trace_command(  # noqa: F811
    name: Any = None,
    *,
    attributes: Mapping[str, Any] | None = None,
    capture_args: CaptureSpec | None = None,
    result_attributes: Callable[[Any], Mapping[str, Any] | None] | None = None,
) -> Any:
    """Trace every call of a CLI command as one span, ``span_prefix + name``.

    Use it bare (``@trace_command``), called (``@trace_command()``), or with a name and
    options (``@trace_command("data_show", attributes={...})``). It works on functions,
    coroutines, generators, async generators, methods, class and static methods (either
    decorator order) and callable objects, and keeps their name, docstring, signature, type
    hints and coroutine or generator nature, so typer and click build the same command.

    In ``off`` and ``test`` mode (unless a test captures spans) a call costs one bool check.
    Otherwise the span is made current while the command runs, with the attributes
    ``cli.command``, ``cli.args`` (the arguments as JSON, framework context objects left out,
    secrets redacted, sizes capped), ``process.pid``, ``process.executable.name``,
    ``process.command_args`` (``sys.argv``, redacted and capped; only while ``capture_args``
    is True), ``process.exit.code`` and ``operation.id`` when the result is a dict with an
    ``operation_id`` key. Its status follows the OpenTelemetry conventions for CLI programs: a
    return or a ``SystemExit`` or click/typer ``Exit`` with code 0 or None is a success
    (``process.exit.code`` 0, status UNSET, or OK with ``bootstrap(ok_status=True)``); a
    non-zero code is ERROR with ``process.exit.code`` and ``error.type``; any other exception
    is ERROR with ``error.type`` (its qualified type name), recorded once and re-raised
    unchanged. Nothing telemetry does wrong reaches the command.

    Args:
        name: The command name (default: the function's ``__name__``).
        attributes: More span attributes (str keys; str, bool, int, float values or
            sequences of one of them).
        capture_args: Override ``bootstrap(capture_args=...)`` for this command: True,
            False, or a callable ``(name, value) -> bool`` that decides per argument.
        result_attributes: A callable ``(result) -> mapping`` whose attributes are set on
            the span when the command returns (instead of the ``operation_id`` rule).

    Returns:
        The traced callable, or a decorator that returns it when ``name`` is not a callable.

    Raises:
        TypeError: An option has the wrong type, or the decorated object is not callable.
    """
    options = _Options(attributes, capture_args, result_attributes)
    if name is None or isinstance(name, str):
        if name is not None and not name:
            msg = "lazyotel.trace_command(name=''): the name must not be empty"
            raise TypeError(msg)
        return lambda target: _decorate(target, name, options)
    return _decorate(name, None, options)


class _Options:
    """The decorator's keyword options, checked at decoration (configuration fails fast)."""

    __slots__ = ("attributes", "capture", "result_attributes")

    def __init__(self, attributes: Any, capture: Any, result_attributes: Any) -> None:
        self.attributes = _check_attributes(attributes)
        if capture is not None and not isinstance(capture, bool) and not callable(capture):
            _type_error("capture_args", capture, "True, False, None or a callable(name, value) -> bool")
        if result_attributes is not None and not callable(result_attributes):
            _type_error("result_attributes", result_attributes, "a callable(result) -> mapping")
        self.capture = capture
        self.result_attributes = result_attributes


def _type_error(param: str, value: object, expected: str) -> NoReturn:
    msg = f"lazyotel.trace_command({param}={value!r}): expected {expected}"
    raise TypeError(msg)


def _valid_value(value: object) -> bool:
    if isinstance(value, _PRIMITIVES):
        return True
    if isinstance(value, (list, tuple)) and value:
        kind = bool if isinstance(value[0], bool) else type(value[0])
        return kind in _PRIMITIVES and all(
            type(v) is kind or (kind is float and type(v) is int) for v in value
        )
    return isinstance(value, (list, tuple))


def _check_attributes(attributes: Any) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not hasattr(attributes, "items"):
        _type_error("attributes", attributes, "a mapping of attribute names to values")
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            _type_error("attributes", attributes, "non-empty str keys")
        if not _valid_value(value):
            msg = (
                f"lazyotel.trace_command(attributes=...): {key!r} has a {type(value).__name__} value; "
                "expected str, bool, int, float or a sequence of one of them"
            )
            raise TypeError(msg)
        out[key] = list(value) if isinstance(value, list) else value
    return out


# -- decoration -----------------------------------------------------------------------------------


def _decorate(target: Any, name: str | None, options: _Options) -> Any:
    if isinstance(target, (staticmethod, classmethod)):
        # ``@trace_command`` above ``@staticmethod``/``@classmethod``: trace the function and
        # wrap it again the same way.
        inner = target.__func__
        skip = 1 if isinstance(target, classmethod) else 0
        return type(target)(_wrap(inner, name, options, skip, inner))
    if isinstance(target, type):
        msg = (
            f"lazyotel.trace_command cannot decorate the class {target.__qualname__}; "
            "decorate its __call__ or one of its methods instead"
        )
        raise TypeError(msg)
    if not callable(target):
        _type_error("<target>", target, "a function, method or callable object")
    _warn_if_click_command(target)
    if _code_of(target) is not None or getattr(type(target).__call__, "__code__", None) is None:
        # A function, a bound method, a partial of one, or a builtin.
        skip = 1 if _looks_like_method(target) else 0
        return _wrap(target, name, options, skip, target)
    return TracedCallable(target, name, options)


def _warn_if_click_command(target: object) -> None:
    """Warn when ``@trace_command`` sits above ``@click.command()`` (the wrong order).

    click registers the function its decorator received, so a traced wrapper around the
    resulting ``click.Command`` would never run. click is looked up, never imported: a click
    command exists only once click is imported. (typer's ``@app.command()`` returns the function
    unchanged, so there the wrong order cannot be seen.)
    """
    click = sys.modules.get("click")
    command_type = getattr(click, "Command", None)
    if command_type is None or not isinstance(target, command_type):
        return
    import warnings

    name = getattr(target, "name", None) or "?"
    msg = (
        f"lazyotel.trace_command received the click command {name!r}: put @lazyotel.trace_command "
        "under @click.command() / @app.command(), next to the function, or the command is not traced"
    )
    warnings.warn(msg, UserWarning, stacklevel=4)  # _warn.. < _decorate < trace_command < user's line


def _looks_like_method(fn: Any) -> bool:
    """A function defined in a class body whose first parameter is ``self`` or ``cls``.

    Bound methods are excluded (their ``self`` is not among the arguments), and so are
    static methods decorated under ``@staticmethod`` unless they name a parameter ``self``.
    """
    if getattr(fn, "__self__", None) is not None:
        return False
    code = getattr(fn, "__code__", None)
    qualname = getattr(fn, "__qualname__", "")
    if code is None or not code.co_argcount or not isinstance(qualname, str):
        return False
    parts = qualname.split(".")
    return len(parts) > 1 and parts[-2] != "<locals>" and code.co_varnames[0] in ("self", "cls")


def _wrap(fn: Any, name: str | None, options: _Options, skip: int, source: Any) -> Any:
    """Build the wrapper for ``fn`` and copy ``source``'s metadata onto it."""
    cmd = Command(
        fn,
        name or _name_of(source),
        skip,
        attributes=options.attributes,
        capture=options.capture,
        result_hook=options.result_attributes,
    )
    code = _code_of(fn)
    flags = code.co_flags if code is not None else 0
    if flags & _CO_COROUTINE or getattr(fn, "__dict__", {}).get("_is_coroutine_marker") is not None:
        wrapper = _coroutine_wrapper(cmd)  # the marker: inspect.markcoroutinefunction (3.12)
    elif flags & _CO_ASYNC_GENERATOR:
        wrapper = _async_generator_wrapper(cmd)
    elif flags & _CO_GENERATOR:
        wrapper = _generator_wrapper(cmd)
    else:
        wrapper = _plain_wrapper(cmd)
    _copy_metadata(wrapper, source)
    return wrapper


def _name_of(target: Any) -> str:
    for candidate in (target, getattr(target, "func", None), type(target)):
        name = getattr(candidate, "__name__", None)
        if isinstance(name, str) and name:
            return name
    return "command"


def _copy_metadata(wrapper: Any, source: Any) -> None:
    """What ``functools.wraps`` does, without importing ``functools`` (see benchmarks/README.md)."""
    for attr in ("__module__", "__name__", "__qualname__", "__doc__", "__annotations__", "__type_params__"):
        try:
            value = getattr(source, attr)
        except AttributeError:
            continue
        try:  # noqa: SIM105 - contextlib would cost an import
            setattr(wrapper, attr, value)
        except (AttributeError, TypeError):
            pass
    if type(source).__name__ == "partial":  # a partial has no name or docstring of its own
        inner = unwrap_partial(source)[0]
        wrapper.__name__ = wrapper.__qualname__ = _name_of(inner)
        wrapper.__doc__ = getattr(inner, "__doc__", None)
    source_dict = getattr(source, "__dict__", None)
    if isinstance(source_dict, dict):
        wrapper.__dict__.update(source_dict)
    wrapper.__wrapped__ = source


# -- wrappers -------------------------------------------------------------------------------------
# Each is a closure over one Command, so the bypassed call is one bool check and a call.


def _plain_wrapper(cmd: Command) -> Callable[..., Any]:
    fn, state = cmd.fn, STATE

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if state.bypass:
            return fn(*args, **kwargs)
        span, token = cmd.enter(args, kwargs)
        if span is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            cmd.fail(span, exc, token)
            raise
        cmd.finish(span, result, token)
        return result

    return wrapper


def _coroutine_wrapper(cmd: Command) -> Callable[..., Any]:
    fn, state = cmd.fn, STATE

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if state.bypass:
            return await fn(*args, **kwargs)
        span, token = cmd.enter(args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            cmd.fail(span, exc, token)
            raise
        cmd.finish(span, result, token)
        return result

    return wrapper


def _generator_wrapper(cmd: Command) -> Callable[..., Any]:
    fn, state = cmd.fn, STATE

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if state.bypass:
            return (yield from fn(*args, **kwargs))
        return (yield from _traced_generator(cmd, args, kwargs))

    return wrapper


def _async_generator_wrapper(cmd: Command) -> Callable[..., Any]:
    fn, state = cmd.fn, STATE

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        # An async generator cannot delegate with ``yield from``: drive it step by step,
        # passing asend/athrow/aclose through; the span (if any) is current in each step.
        span, ctx = (None, None) if state.bypass else cmd.open(args, kwargs)
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            cmd.fail(span, exc)
            raise
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = cmd.attach(ctx)
            try:
                try:
                    item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
                finally:
                    cmd.detach(token)
            except StopAsyncIteration:
                cmd.finish(span, None)
                return
            except BaseException as exc:
                cmd.fail(span, exc)
                raise
            thrown = None
            try:
                sent = yield item
            except GeneratorExit as exc:  # aclose(), or the generator was collected
                token = cmd.attach(ctx)
                try:
                    await agen.aclose()
                except BaseException as error:
                    cmd.fail(span, error)
                    raise
                finally:
                    cmd.detach(token)
                cmd.fail(span, exc)
                raise
            except BaseException as exc:  # noqa: BLE001 - athrow() by the caller: pass it on
                thrown = exc

    return wrapper


def _traced_generator(cmd: Command, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Drive the generator by hand so the span is current only while its body runs."""
    span, ctx = cmd.open(args, kwargs)
    try:
        gen = cmd.fn(*args, **kwargs)
    except BaseException as exc:
        cmd.fail(span, exc)
        raise
    if span is None:
        return (yield from gen)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        token = cmd.attach(ctx)
        try:
            try:
                item = gen.send(sent) if thrown is None else gen.throw(thrown)
            finally:
                cmd.detach(token)
        except StopIteration as stop:
            cmd.finish(span, stop.value)
            return stop.value
        except BaseException as exc:
            cmd.fail(span, exc)
            raise
        thrown = None
        try:
            sent = yield item
        except GeneratorExit as exc:  # close(), or the generator was collected
            token = cmd.attach(ctx)
            try:
                gen.close()
            except BaseException as error:
                cmd.fail(span, error)
                raise
            finally:
                cmd.detach(token)
            cmd.fail(span, exc)
            raise
        except BaseException as exc:  # noqa: BLE001 - throw() by the caller: pass it on
            thrown = exc


class TracedCallable:
    """A callable object whose calls are traced; everything else is the object's own.

    Attribute reads go to the wrapped object, ``isinstance`` sees its class, and
    ``inspect.signature`` follows ``__wrapped__`` to its ``__call__``.
    """

    def __init__(self, target: Any, name: str | None, options: _Options) -> None:
        call = target.__call__
        object.__setattr__(self, "__wrapped__", target)
        object.__setattr__(self, "_lazyotel_call", _wrap(call, name or _name_of(target), options, 0, call))
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            value = getattr(target, attr, None)
            if value is not None:
                object.__setattr__(self, attr, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._lazyotel_call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__wrapped__, name)

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() sees the wrapped object's class
        return type(self.__wrapped__)

    def __repr__(self) -> str:
        return f"<traced {self.__wrapped__!r}>"
