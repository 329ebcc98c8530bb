"""What type checkers see of lazyotel's public API: mypy and pyright both check this file.

``assert_type`` fails the check when a type is not exactly the one written (no ``Any``
sneaking in). It is not collected by pytest: the file is only type-checked (``tasks.py test``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, Tracer
from opentelemetry.util.types import AttributeValue
from typing_extensions import assert_type

import lazyotel
import lazyotel.testing


@lazyotel.trace_command
def bare(symbol: str, days: int = 30) -> dict[str, str]:
    return {"operation_id": symbol * days}


@lazyotel.trace_command()
def called() -> None: ...


@lazyotel.trace_command("data_show")
def named(symbol: str) -> int:
    return len(symbol)


@lazyotel.trace_command("data_load", attributes={"team": "data", "shards": 3}, capture_args=False)
def with_options(symbol: str) -> None: ...


@lazyotel.trace_command(result_attributes=lambda result: {"rows": len(result)})
def with_result_attributes() -> list[int]:
    return [1, 2]


@lazyotel.trace_command(capture_args=lambda name, value: name != "token")
def with_predicate(token: str) -> None: ...


@lazyotel.trace_command("fetch")
async def fetch(url: str) -> bytes:
    return url.encode()


@lazyotel.trace_command
async def fetch_bare(url: str) -> bytes:
    return url.encode()


@lazyotel.trace_command("follow")
def follow(count: int) -> Iterator[int]:
    yield from range(count)


@lazyotel.trace_command
async def stream(count: int) -> AsyncIterator[int]:
    for i in range(count):
        yield i


class Commands:
    @lazyotel.trace_command("method")
    def method(self, name: str) -> str:
        return name

    @staticmethod
    @lazyotel.trace_command
    def static(x: int) -> int:
        return x


# The decorated function keeps its exact type: parameters, result, coroutine nature.
assert_type(bare("AAPL", 3), dict[str, str])
assert_type(called(), None)
assert_type(named("AAPL"), int)
assert_type(with_options("AAPL"), None)
assert_type(with_result_attributes(), list[int])
assert_type(follow(3), Iterator[int])
assert_type(stream(3), AsyncIterator[int])
assert_type(Commands().method("x"), str)
assert_type(Commands.static(1), int)


async def use_async_commands() -> None:
    assert_type(await fetch("x"), bytes)  # still a coroutine function, awaited to its result
    assert_type(await fetch_bare("x"), bytes)
    async for item in stream(3):
        assert_type(item, int)


# The configuration functions.
assert_type(lazyotel.bootstrap("mycli", exporter="console", instrument=["httpx"]), None)
assert_type(lazyotel.reconfigure(endpoint="http://127.0.0.1:4318"), bool)
assert_type(lazyotel.flush(1.0), bool)
assert_type(lazyotel.shutdown(), bool)
assert_type(lazyotel.mode(), str)
assert_type(lazyotel.__version__, str)

# get_tracer gives an OpenTelemetry Tracer, so spans are typed as the API's.
tracer = lazyotel.get_tracer(__name__)
assert_type(tracer, Tracer)
with tracer.start_as_current_span("work") as span:
    assert_type(span, Span)
    span.set_attribute("rows", 3)
assert_type(tracer.start_span("other"), Span)

# capture_spans yields CapturedSpans of SDK ReadableSpans.
with lazyotel.testing.capture_spans(deterministic_ids=True) as spans:
    assert_type(spans, lazyotel.testing.CapturedSpans)
    assert_type(spans.spans, list[ReadableSpan])
    assert_type(spans[0], ReadableSpan)
    assert_type(spans.get("cli.bare"), ReadableSpan)
    assert_type(spans.by_name("cli.bare"), list[ReadableSpan])
    assert_type(spans.names(), list[str])
    assert_type(spans.attributes("cli.bare"), dict[str, AttributeValue])
    assert_type(spans.parent(spans[0]), Optional[ReadableSpan])
    assert_type(spans.children(spans[0]), list[ReadableSpan])
    for captured in spans:
        assert_type(captured, ReadableSpan)

with lazyotel.testing.enabled():
    pass
with lazyotel.testing.isolated():
    pass
assert_type(lazyotel.testing.reset(), None)

# The receiver (lazyotel[testing]).
with lazyotel.testing.OTLPReceiver(protocol="grpc") as receiver:
    assert_type(receiver, lazyotel.testing.OTLPReceiver)
    assert_type(receiver.endpoint, str)
    received = receiver.wait_for(1)
    assert_type(received, list[lazyotel.testing.ReceivedSpan])
    assert_type(received[0].name, str)
    assert_type(received[0].parent_span_id, Optional[str])
