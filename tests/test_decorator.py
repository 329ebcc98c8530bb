"""lazyotel.trace_command: every kind of callable, exit semantics, transparency, faults."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import json
import logging
import subprocess
import sys
import textwrap
import traceback
import typing
from collections.abc import Iterator

import click
import pytest
import typer
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import StatusCode

import lazyotel
from lazyotel import testing, trace_command
from lazyotel.testing import CapturedSpans

PYTHON = sys.executable

caller_tracer = lazyotel.get_tracer("tests.caller")


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    with testing.capture_spans() as captured:
        yield captured


def _args(captured: CapturedSpans, name: str) -> dict[str, object]:
    return json.loads(captured.attributes(name)["cli.args"])  # type: ignore[no-any-return]


def _span_id(span: object) -> int:
    return trace.get_current_span().get_span_context().span_id if span is None else span.context.span_id  # type: ignore[attr-defined]


# -- forms and metadata -------------------------------------------------------------------------


def test_bare_called_and_named_forms(spans: CapturedSpans) -> None:
    @trace_command
    def bare() -> int:
        return 1

    @trace_command()
    def called() -> int:
        return 2

    @trace_command("data_show", attributes={"team": "data", "tags": ["a", "b"]})
    def named() -> int:
        return 3

    @trace_command(name="by_keyword")
    def keyword() -> int:
        return 4

    assert (bare(), called(), named(), keyword()) == (1, 2, 3, 4)
    assert spans.names() == ["cli.bare", "cli.called", "cli.data_show", "cli.by_keyword"]
    assert spans.attributes("cli.data_show")["cli.command"] == "data_show"
    assert spans.attributes("cli.data_show")["team"] == "data"
    assert list(spans.attributes("cli.data_show")["tags"]) == ["a", "b"]


def test_span_prefix_is_read_when_the_span_is_made(spans: CapturedSpans) -> None:
    @trace_command
    def first() -> None:
        pass

    lazyotel.bootstrap(span_prefix="tool.")
    first()
    assert spans.names() == ["tool.first"]


def documented(count: int, name: str = "x", *rest: str, flag: bool = False, **extra: int) -> list[str]:
    """Documentation."""
    return [name] * count


def test_wrapper_is_transparent_to_introspection() -> None:
    wrapped = trace_command(documented)
    documented.custom = "kept"  # type: ignore[attr-defined]
    wrapped_later = trace_command(documented)
    assert wrapped.__name__ == "documented"
    assert wrapped.__qualname__ == documented.__qualname__
    assert wrapped.__doc__ == "Documentation."
    assert wrapped.__module__ == __name__
    assert wrapped.__wrapped__ is documented
    assert wrapped_later.custom == "kept"
    assert inspect.signature(wrapped) == inspect.signature(documented)
    assert typing.get_type_hints(wrapped) == typing.get_type_hints(documented)
    del documented.custom  # type: ignore[attr-defined]


async def _coro(x: int) -> int:
    await asyncio.sleep(0)
    return x


def _gen(n: int) -> Iterator[int]:
    yield from range(n)


async def _agen(n: int) -> typing.AsyncIterator[int]:
    for i in range(n):
        yield i


@pytest.mark.parametrize(
    ("fn", "nature"),
    [
        (documented, (False, False, False)),
        (_coro, (True, False, False)),
        (_gen, (False, True, False)),
        (_agen, (False, False, True)),
    ],
)
def test_wrapper_keeps_the_coroutine_or_generator_nature(fn: object, nature: tuple[bool, ...]) -> None:
    wrapped = trace_command(fn)
    assert nature == (
        inspect.iscoroutinefunction(wrapped),
        inspect.isgeneratorfunction(wrapped),
        inspect.isasyncgenfunction(wrapped),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attributes": {"n": None}}, "NoneType"),
        ({"attributes": {"n": [1, "a"]}}, "list"),
        ({"attributes": {1: "a"}}, "str keys"),
        ({"attributes": ["a"]}, "mapping"),
        ({"capture_args": "yes"}, "capture_args"),
        ({"result_attributes": 3}, "result_attributes"),
    ],
)
def test_bad_options_fail_at_decoration(kwargs: dict[str, typing.Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        trace_command("name", **kwargs)


def test_decorating_a_class_or_a_non_callable_fails() -> None:
    with pytest.raises(TypeError, match="class"):
        trace_command(dict)
    with pytest.raises(TypeError, match="callable"):
        trace_command(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="empty"):
        trace_command("")


# -- plain calls ----------------------------------------------------------------------------------


def test_plain_call_span_is_current_and_carries_the_attributes(spans: CapturedSpans) -> None:
    seen = []

    @trace_command
    def show(item: str, api_token: str, limit: int = 10) -> dict[str, str]:
        seen.append(trace.get_current_span().get_span_context().span_id)
        return {"operation_id": "op-42"}

    assert show("a", api_token="s3cret", limit=3) == {"operation_id": "op-42"}
    span = spans.get("cli.show")
    assert seen == [span.context.span_id]
    assert span.attributes["cli.command"] == "show"
    assert span.attributes["operation.id"] == "op-42"
    assert _args(spans, "cli.show") == {"args": ["a"], "kwargs": {"api_token": "[REDACTED]", "limit": 3}}
    assert span.status.status_code is StatusCode.UNSET
    assert list(span.events) == []


def test_nested_commands_nest(spans: CapturedSpans) -> None:
    @trace_command
    def inner() -> None:
        pass

    @trace_command
    def outer() -> None:
        inner()
        inner()

    with caller_tracer.start_as_current_span("caller"):
        outer()
    outer_span = spans.get("cli.outer")
    assert [s.name for s in spans.children(outer_span)] == ["cli.inner", "cli.inner"]
    assert spans.parent(outer_span).name == "caller"


def test_result_attributes_replace_the_operation_id_rule(spans: CapturedSpans) -> None:
    @trace_command(result_attributes=lambda r: {"rows": len(r), "first": r[0], "skip": None})
    def rows() -> list[str]:
        return ["a", "b"]

    assert rows() == ["a", "b"]
    attributes = spans.attributes("cli.rows")
    assert (attributes["rows"], attributes["first"]) == (2, "a")
    assert "skip" not in attributes
    assert "operation.id" not in attributes


def test_capture_can_be_turned_off_or_filtered(spans: CapturedSpans) -> None:
    @trace_command(capture_args=False)
    def quiet(x: int) -> None:
        pass

    @trace_command(capture_args=lambda name, value: name != "hidden")
    def picky(shown: int, hidden: int) -> None:
        pass

    quiet(1)
    picky(1, hidden=2)
    assert "cli.args" not in spans.attributes("cli.quiet")
    assert _args(spans, "cli.picky") == {"args": [1], "kwargs": {}}


def test_bootstrap_capture_args_false_is_the_default_for_every_command(spans: CapturedSpans) -> None:
    @trace_command
    def cmd(x: int) -> None:
        pass

    @trace_command(capture_args=True)
    def loud(x: int) -> None:
        pass

    lazyotel.bootstrap(capture_args=False)
    cmd(1)
    loud(2)
    assert "cli.args" not in spans.attributes("cli.cmd")
    assert _args(spans, "cli.loud") == {"args": [2], "kwargs": {}}


def test_test_mode_without_capture_runs_untraced() -> None:
    calls = []

    @trace_command
    def cmd(x: int) -> int:
        calls.append(x)
        return x

    assert lazyotel.mode() == "test"
    assert cmd(5) == 5
    with testing.capture_spans() as captured:
        pass
    assert calls == [5]
    assert captured.names() == []


# -- coroutines -----------------------------------------------------------------------------------


def test_coroutine_span_covers_the_awaited_body(spans: CapturedSpans) -> None:
    seen = []

    @trace_command
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        seen.append(trace.get_current_span().get_span_context().span_id)
        return n

    async def main() -> list[int]:
        with caller_tracer.start_as_current_span("caller"):
            return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.run(main()) == [1, 2]
    fetched = spans.by_name("cli.fetch")
    assert sorted(seen) == sorted(s.context.span_id for s in fetched)
    assert all(spans.parent(s).name == "caller" for s in fetched)
    assert all(s.end_time - s.start_time >= 10_000_000 for s in fetched)


def test_coroutine_exception_is_recorded_and_reraised(spans: CapturedSpans) -> None:
    @trace_command
    async def broken() -> None:
        await asyncio.sleep(0)
        raise LookupError("missing")

    with pytest.raises(LookupError, match="missing"):
        asyncio.run(broken())
    span = spans.get("cli.broken")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


# -- generators -----------------------------------------------------------------------------------


def test_generator_context_is_current_only_while_its_body_runs(spans: CapturedSpans) -> None:
    inside: dict[str, list[int]] = {"letters": [], "numbers": []}
    between = []

    @trace_command
    def letters() -> Iterator[str]:
        for letter in "ab":
            inside["letters"].append(_span_id(None))
            yield letter

    @trace_command
    def numbers() -> Iterator[int]:
        for number in (1, 2):
            inside["numbers"].append(_span_id(None))
            yield number

    with caller_tracer.start_as_current_span("caller") as caller:
        pairs = []
        for pair in zip(letters(), numbers()):
            between.append(_span_id(None))
            pairs.append(pair)
    assert pairs == [("a", 1), ("b", 2)]
    caller_id = caller.get_span_context().span_id
    assert between == [caller_id, caller_id]
    for name in ("letters", "numbers"):
        span = spans.get(f"cli.{name}")
        assert inside[name] == [span.context.span_id] * 2
        assert spans.parent(span).name == "caller"  # siblings, not nested in each other


def test_generator_send_throw_and_return_value_pass_through(spans: CapturedSpans) -> None:
    @trace_command
    def echo() -> typing.Generator[str, str, str]:
        received = "start"
        while received != "stop":
            try:
                received = yield f"got {received}"
            except KeyError:
                received = "caught"
        return "done"

    gen = echo()
    assert next(gen) == "got start"
    assert gen.send("x") == "got x"
    assert gen.throw(KeyError("k")) == "got caught"
    with pytest.raises(StopIteration) as stop:
        gen.send("stop")
    assert stop.value.value == "done"
    span = spans.get("cli.echo")
    assert span.status.status_code is StatusCode.UNSET
    assert list(span.events) == []


def test_generator_span_ends_on_close_exception_and_collection(spans: CapturedSpans) -> None:
    cleaned = []

    @trace_command
    def stream(fail: bool = False) -> Iterator[int]:
        try:
            yield 1
            if fail:
                raise ValueError("broken stream")
            yield 2
        finally:
            cleaned.append(fail)

    closed = stream()
    next(closed)
    closed.close()
    collected = stream()
    next(collected)
    del collected
    gc.collect()
    with pytest.raises(ValueError, match="broken stream"):
        list(stream(fail=True))
    assert cleaned == [False, False, True]
    assert len(spans.by_name("cli.stream")) == 3
    statuses = [s.status.status_code for s in spans.by_name("cli.stream")]
    assert statuses == [StatusCode.UNSET, StatusCode.UNSET, StatusCode.ERROR]
    assert [len(s.events) for s in spans.by_name("cli.stream")] == [0, 0, 1]


def test_async_generator_passes_asend_athrow_aclose(spans: CapturedSpans) -> None:
    inside = []
    between = []

    @trace_command
    async def ticker() -> typing.AsyncGenerator[str, str]:
        received = "start"
        try:
            while True:
                inside.append(_span_id(None))
                try:
                    received = yield f"got {received}"
                except KeyError:
                    received = "caught"
                await asyncio.sleep(0)
        finally:
            inside.append(-1)

    async def main() -> list[str]:
        out = []
        with caller_tracer.start_as_current_span("caller"):
            agen = ticker()
            out.append(await agen.__anext__())
            between.append(_span_id(None))
            out.append(await agen.asend("x"))
            between.append(_span_id(None))
            out.append(await agen.athrow(KeyError("k")))
            await agen.aclose()
        return out

    assert asyncio.run(main()) == ["got start", "got x", "got caught"]
    span = spans.get("cli.ticker")
    assert inside == [span.context.span_id] * 3 + [-1]
    assert between == [spans.get("caller").context.span_id] * 2
    assert span.status.status_code is StatusCode.UNSET
    assert spans.parent(span).name == "caller"


def test_async_generator_exhaustion_and_error(spans: CapturedSpans) -> None:
    @trace_command
    async def count(n: int) -> typing.AsyncIterator[int]:
        for i in range(n):
            yield i
        if n > 2:
            raise RuntimeError("too many")

    async def main() -> list[int]:
        return [i async for i in count(2)]

    async def failing() -> list[int]:
        return [i async for i in count(3)]

    assert asyncio.run(main()) == [0, 1]
    with pytest.raises(RuntimeError, match="too many"):
        asyncio.run(failing())
    first, second = spans.by_name("cli.count")
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR
    assert [e.name for e in second.events] == ["exception"]


# -- methods and callable objects -----------------------------------------------------------------


class Repo:
    def __init__(self) -> None:
        self.items = ["a"]

    @trace_command
    def show(self, index: int) -> str:
        return self.items[index]

    @trace_command
    @classmethod
    def create_outer(cls, size: int) -> str:
        return f"{cls.__name__}:{size}"

    @classmethod
    @trace_command
    def create_inner(cls, size: int) -> str:
        return f"{cls.__name__}:{size}"

    @trace_command
    @staticmethod
    def version_outer(major: int) -> str:
        return f"v{major}"

    @staticmethod
    @trace_command
    def version_inner(major: int) -> str:
        return f"v{major}"


class SubRepo(Repo):
    pass


def test_methods_in_either_decorator_order(spans: CapturedSpans) -> None:
    repo = SubRepo()
    assert repo.show(0) == "a"
    assert SubRepo.create_outer(1) == "SubRepo:1"
    assert SubRepo.create_inner(2) == "SubRepo:2"
    assert Repo.version_outer(3) == "v3"
    assert repo.version_inner(4) == "v4"
    assert spans.names() == [
        "cli.show",
        "cli.create_outer",
        "cli.create_inner",
        "cli.version_outer",
        "cli.version_inner",
    ]
    assert [_args(spans, name)["args"] for name in spans.names()] == [[0], [1], [2], [3], [4]]
    assert isinstance(Repo.__dict__["create_outer"], classmethod)
    assert isinstance(Repo.__dict__["version_outer"], staticmethod)


def test_bound_method_and_callable_object(spans: CapturedSpans) -> None:
    class Greeter:
        """Greets."""

        greeting = "hi"

        def __call__(self, name: str, *, loud: bool = False) -> str:
            text = f"{self.greeting} {name}"
            return text.upper() if loud else text

    class Plain:
        def show(self, index: int) -> str:
            return "ab"[index]

    greeter = Greeter()
    traced = trace_command(greeter)
    bound = trace_command("show_bound")(Plain().show)
    assert traced("ann", loud=True) == "HI ANN"
    assert bound(0) == "a"
    assert isinstance(traced, Greeter)
    assert traced.greeting == "hi"
    assert traced.__doc__ == "Greets."
    assert inspect.signature(traced) == inspect.signature(greeter)
    assert spans.names() == ["cli.Greeter", "cli.show_bound"]
    assert _args(spans, "cli.Greeter") == {"args": ["ann"], "kwargs": {"loud": True}}
    assert _args(spans, "cli.show_bound") == {"args": [0], "kwargs": {}}


def test_async_callable_object(spans: CapturedSpans) -> None:
    class Job:
        async def __call__(self, n: int) -> int:
            await asyncio.sleep(0)
            return n + 1

    assert asyncio.run(trace_command(Job())(1)) == 2
    assert spans.names() == ["cli.Job"]


# -- exit semantics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exit_exc",
    [SystemExit(0), SystemExit(None), SystemExit(), click.exceptions.Exit(0), typer.Exit(0), typer.Exit()],
    ids=repr,
)
def test_exit_with_code_zero_is_a_success_with_status_unset(
    spans: CapturedSpans, exit_exc: BaseException
) -> None:
    """The OpenTelemetry CLI conventions: UNSET on success, like a normal return; exit code 0."""

    @trace_command
    def done() -> None:
        raise exit_exc

    with pytest.raises(type(exit_exc)) as info:
        done()
    assert info.value is exit_exc
    span = spans.get("cli.done")
    assert span.status.status_code is StatusCode.UNSET
    assert list(span.events) == []
    assert span.attributes["process.exit.code"] == 0
    assert "error.type" not in span.attributes


@pytest.mark.parametrize("exit_exc", [None, SystemExit(0), typer.Exit()], ids=repr)
def test_ok_status_sets_ok_on_every_success(spans: CapturedSpans, exit_exc: BaseException | None) -> None:
    """``bootstrap(ok_status=True)``: OK on a normal return and on an exit with code 0."""
    lazyotel.bootstrap(ok_status=True)

    @trace_command
    def done() -> None:
        if exit_exc is not None:
            raise exit_exc

    @trace_command
    def failed() -> None:
        raise SystemExit(3)

    with pytest.raises(type(exit_exc)) if exit_exc is not None else contextlib.nullcontext():
        done()
    with pytest.raises(SystemExit):
        failed()
    assert spans.get("cli.done").status.status_code is StatusCode.OK
    assert spans.get("cli.done").attributes["process.exit.code"] == 0
    assert spans.get("cli.failed").status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    ("exit_exc", "code"),
    [
        (SystemExit(2), 2),
        (SystemExit("fatal: no config"), 1),
        (SystemExit(True), 1),
        (click.exceptions.Exit(3), 3),
        (typer.Exit(4), 4),
    ],
    ids=repr,
)
def test_exit_with_non_zero_code_is_an_error_with_the_code(
    spans: CapturedSpans, exit_exc: BaseException, code: int
) -> None:
    @trace_command
    def failed() -> None:
        raise exit_exc

    with pytest.raises(type(exit_exc)) as info:
        failed()
    assert info.value is exit_exc
    span = spans.get("cli.failed")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["process.exit.code"] == code
    assert span.attributes["error.type"] == str(code)
    assert list(span.events) == []


@pytest.mark.parametrize(
    "interruption", [KeyboardInterrupt(), click.exceptions.Abort(), typer.Abort()], ids=repr
)
def test_interrupt_and_abort_are_errors_and_reraised(
    spans: CapturedSpans, interruption: BaseException
) -> None:
    @trace_command
    def stopped() -> None:
        raise interruption

    with pytest.raises(type(interruption)) as info:
        stopped()
    assert info.value is interruption
    assert spans.get("cli.stopped").status.status_code is StatusCode.ERROR


def test_other_exception_gives_one_event_and_is_reraised_unchanged(spans: CapturedSpans) -> None:
    error = click.BadParameter("no such item")  # has exit_code, yet it is an error, not an exit

    def deep() -> None:
        raise error

    @trace_command
    def inner() -> None:
        deep()

    @trace_command
    def outer() -> None:
        inner()

    with pytest.raises(click.BadParameter) as info:
        outer()
    assert info.value is error
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "deep"
    for name in ("cli.inner", "cli.outer"):
        span = spans.get(name)
        assert span.status.status_code is StatusCode.ERROR
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes["exception.type"].endswith("BadParameter")


# -- telemetry faults never reach the command -----------------------------------------------------


class _BrokenTracer(trace.NoOpTracer):
    def start_span(self, *args: typing.Any, **kwargs: typing.Any) -> trace.Span:
        raise RuntimeError("tracer is broken")


class _BrokenProvider(trace.NoOpTracerProvider):
    def get_tracer(self, *args: typing.Any, **kwargs: typing.Any) -> trace.Tracer:
        return _BrokenTracer()


class _RaisingProcessor(SpanProcessor):
    def __init__(self, where: str) -> None:
        self.where = where

    def on_start(self, span: typing.Any, parent_context: typing.Any = None) -> None:
        if self.where == "start":
            raise RuntimeError("on_start is broken")

    def on_end(self, span: typing.Any) -> None:
        if self.where == "end":
            raise RuntimeError("on_end is broken")


def _lazyotel_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lazyotel" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("fault", ["tracer", "start", "end"])
def test_telemetry_fault_runs_the_command_once_and_keeps_its_result(
    caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    if fault == "tracer":
        trace.set_tracer_provider(_BrokenProvider())
    else:
        provider = TracerProvider()
        provider.add_span_processor(_RaisingProcessor(fault))
        trace.set_tracer_provider(provider)
    calls = []

    @trace_command
    def cmd(x: int) -> dict[str, int]:
        calls.append(x)
        return {"operation_id": x}

    @trace_command
    def failing(x: int) -> None:
        calls.append(x)
        raise KeyError(x)

    @trace_command
    async def coro(x: int) -> int:
        calls.append(x)
        return x

    @trace_command
    def gen(x: int) -> Iterator[int]:
        calls.append(x)
        yield x

    with testing.enabled():
        assert cmd(1) == {"operation_id": 1}
        assert cmd(2) == {"operation_id": 2}
        with pytest.raises(KeyError) as info:
            failing(3)
        assert asyncio.run(coro(4)) == 4
        assert list(gen(5)) == [5]
    assert calls == [1, 2, 3, 4, 5]
    assert info.value.args == (3,)
    assert info.value.__context__ is None
    warnings = _lazyotel_warnings(caplog)
    assert len(warnings) == 1
    assert "not affected" in warnings[0]


def test_failing_capture_filter_and_result_hook_never_reach_the_command(
    spans: CapturedSpans, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(name: str, value: object) -> bool:
        raise RuntimeError("filter is broken")

    @trace_command(capture_args=refuse, result_attributes=lambda result: 1 / 0)
    def cmd(password: str) -> str:
        return "ok"

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @trace_command
    def odd(value: object) -> str:
        return "fine"

    assert cmd("hunter2") == "ok"
    assert odd(Hostile()) == "fine"
    assert _args(spans, "cli.cmd") == {"args": [], "kwargs": {}}
    assert _args(spans, "cli.odd")["args"] == [f"<{Hostile.__module__}.{Hostile.__qualname__} object>"]
    assert len(_lazyotel_warnings(caplog)) == 1


# -- imports --------------------------------------------------------------------------------------

FORBIDDEN = ("opentelemetry", "wrapt", "httpx", "asyncio", "importlib.metadata", "inspect", "dataclasses")

DECORATE_MANY = """
import sys
import lazyotel

forbidden = {forbidden!r}
for i in range(50):
    exec(f'''
@lazyotel.trace_command
def plain_{{i}}(a, b=1): return a
@lazyotel.trace_command("named_{{i}}", attributes={{{{"n": {{i}}}}}})
async def coro_{{i}}(a): return a
@lazyotel.trace_command
def gen_{{i}}(a): yield a
@lazyotel.trace_command()
async def agen_{{i}}(a): yield a
''')
class Commands:
    @lazyotel.trace_command
    def method(self, x): return x
    @lazyotel.trace_command
    @classmethod
    def cm(cls, x): return x
    @staticmethod
    @lazyotel.trace_command
    def sm(x): return x
{calls}
bad = sorted(m for m in sys.modules if m.split(".")[0] in forbidden or m in forbidden)
print(",".join(bad) or "clean", "capture" if "lazyotel._capture" in sys.modules else "")
"""


@pytest.mark.parametrize("mode", ["decorate", "off", "test"])
def test_decorating_200_commands_imports_nothing_forbidden(subprocess_env: dict[str, str], mode: str) -> None:
    """Decoration imports nothing; in off and test mode neither do the calls."""
    calls = "" if mode == "decorate" else "for i in range(50): globals()[f'plain_{i}'](i)\nlist(gen_0(1))\n"
    code = DECORATE_MANY.format(forbidden=FORBIDDEN, calls=calls)
    if mode != "decorate":
        subprocess_env["LAZYOTEL_MODE"] = mode
    out = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code)], env=subprocess_env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["clean"]
    assert out.stderr == ""


def test_on_mode_in_a_subprocess_exports_the_command_span(subprocess_env: dict[str, str]) -> None:
    code = """
        import sys
        import lazyotel

        lazyotel.bootstrap(service_name="demo", exporter="console")

        @lazyotel.trace_command
        def deploy(target, secret_key="k"):
            print("deployed", target)
            sys.exit(3)

        deploy("prod", secret_key="hunter2")
    """
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # a loaded machine must not lose the span
    out = subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 3
    assert out.stdout == "deployed prod\n"
    assert '"name": "cli.deploy"' in out.stderr
    assert '"process.exit.code": 3' in out.stderr
    assert "hunter2" not in out.stderr


def test_partial_keeps_the_function_name_and_binds_the_remaining_parameters(spans: CapturedSpans) -> None:
    import functools

    def transfer(source: str, amount: int, token: str = "") -> int:
        """Move money."""
        return amount

    traced = trace_command(functools.partial(transfer, "acct-1"))
    assert traced(5, "s3cret") == 5
    assert (traced.__name__, traced.__doc__) == ("transfer", "Move money.")
    assert _args(spans, "cli.transfer") == {"args": [5, "[REDACTED]"], "kwargs": {}}
