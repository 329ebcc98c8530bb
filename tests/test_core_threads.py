"""Threads: activation exactly once under a race; swaps leave no processor or thread behind."""

from __future__ import annotations

import json

import pytest
from _child import run_child

from lazyotel._receiver import OTLPReceiver


@pytest.fixture
def on_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    subprocess_env["LAZYOTEL_MODE"] = "on"
    subprocess_env["LAZYOTEL_FLUSH_TIMEOUT"] = "20"  # arrival is checked, not speed
    return subprocess_env


RACE = """
import gc, json, sys, threading
import lazyotel
lazyotel.bootstrap("race", endpoint={endpoint!r})
tracer = lazyotel.get_tracer("race")  # shared, like a module-level tracer
barrier = threading.Barrier(32)
errors = []
threading.excepthook = lambda args: errors.append(repr(args.exc_value))

def first_span(i):
    barrier.wait()
    with tracer.start_as_current_span(f"t{{i}}") as span:
        span.set_attribute("i", i)

threads = [threading.Thread(target=first_span, args=(i,)) for i in range(32)]
for t in threads:
    t.start()
for t in threads:
    t.join()

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from lazyotel._follow import PROVIDER
from lazyotel._provider import RUNTIME
from lazyotel._exporters import GuardedExporter
from opentelemetry import trace
gc.collect()
print(json.dumps({{
    "errors": errors,
    "sdk_providers": sum(isinstance(o, TracerProvider) for o in gc.get_objects()),
    "batch_processors": sum(isinstance(o, BatchSpanProcessor) for o in gc.get_objects()),
    "global_is_lazyotel": trace.get_tracer_provider() is PROVIDER,
    "exit_handlers": int(RUNTIME.exit_registered),
    "exporters": sum(isinstance(o, GuardedExporter) for o in gc.get_objects()),
}}))
"""


def test_32_threads_racing_the_first_span_build_one_provider(on_env: dict[str, str]) -> None:
    with OTLPReceiver() as receiver:
        child = run_child(RACE.format(endpoint=receiver.endpoint), on_env)
        assert child.returncode == 0, child.stderr
        assert child.other_stderr == [], child.stderr
        assert child.warnings == [], child.stderr
        assert json.loads(child.stdout) == {
            "errors": [],
            "sdk_providers": 1,
            "batch_processors": 1,
            "global_is_lazyotel": True,
            "exit_handlers": 1,
            "exporters": 1,
        }
        spans = receiver.wait_for(32)
    assert sorted(span.attributes["i"] for span in spans) == list(range(32))
    assert len({span.resource["service.name"] for span in spans}) == 1
    assert len({span.trace_id for span in spans}) == 32  # 32 independent roots


SWAPS = """
import gc, json, threading, time
import lazyotel
endpoints = [{first!r}, {second!r}]
lazyotel.bootstrap("swaps", endpoint=endpoints[0])
tracer = lazyotel.get_tracer("swaps")

def names():
    return sorted(t.name for t in threading.enumerate())

def settle(until):
    deadline = time.monotonic() + 10
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)  # an old batch processor's thread may still be finishing

with tracer.start_as_current_span("swap-0"):
    pass
baseline = names()
for i in range(1, 21):
    lazyotel.reconfigure(endpoint=endpoints[i % 2])
    with tracer.start_as_current_span(f"swap-{{i}}"):
        pass
settle(lambda: names() == baseline)
from opentelemetry.sdk.trace.export import BatchSpanProcessor
gc.collect()
live = [o for o in gc.get_objects() if isinstance(o, BatchSpanProcessor) and not o._batch_processor._shutdown]
print(json.dumps({{"baseline": baseline, "after": names(), "live_batch_processors": len(live)}}))
"""


def test_repeated_swaps_leave_no_threads_or_processors_behind(on_env: dict[str, str]) -> None:
    with OTLPReceiver() as first, OTLPReceiver() as second:
        child = run_child(SWAPS.format(first=first.endpoint, second=second.endpoint), on_env)
        assert child.returncode == 0, child.stderr
        assert child.warnings == [], child.stderr
        result = json.loads(child.stdout)
        assert result["after"] == result["baseline"]
        assert result["baseline"].count("OtelBatchSpanRecordProcessor") == 1
        assert result["live_batch_processors"] == 1
        spans = first.wait_for(11) + second.wait_for(10)
    assert sorted(span.name for span in first.spans) == sorted(f"swap-{i}" for i in range(0, 21, 2))
    assert sorted(span.name for span in second.spans) == sorted(f"swap-{i}" for i in range(1, 21, 2))
    assert len(spans) == 21
