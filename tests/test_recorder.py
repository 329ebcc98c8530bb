"""The recorder's own behaviour: the cases the SDK's span tests check, threads, the fallback rule.

``lazyotel._recorder`` implements the OpenTelemetry API without the SDK; these tests hold it to
what opentelemetry-sdk's ``tests/trace/test_trace.py`` checks for the same features (span
creation and parents, members, ended spans, status rules, exceptions, limits, samplers, scopes),
plus thread safety and :func:`lazyotel._recorder.unsupported_reason`.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from _child import run_child
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lazyotel import _recorder

PROPAGATOR = TraceContextTextMapPropagator()


class Ids:
    """Counting ids, so tests can predict them."""

    def __init__(self, trace_ids: list[int] | None = None) -> None:
        self.trace_ids = list(trace_ids or [])
        self.next_span = 0

    def generate_trace_id(self) -> int:
        return self.trace_ids.pop(0) if self.trace_ids else 0xABC

    def generate_span_id(self) -> int:
        self.next_span += 1
        return self.next_span

    def is_trace_id_random(self) -> bool:
        return False


def provider(
    sink: Any = None, environ: dict[str, str] | None = None, **options: Any
) -> tuple[_recorder.RecordingProvider, list[_recorder.RecordedSpan]]:
    spans: list[_recorder.RecordedSpan] = []
    made = _recorder.RecordingProvider(
        sink if sink is not None else spans.append,
        resource=_recorder.build_resource({"service.name": "svc"}, version="1.2.3", environ=environ or {}),
        environ=environ or {},
        **options,
    )
    return made, spans


@pytest.fixture
def tracer_and_spans() -> tuple[trace_api.Tracer, list[_recorder.RecordedSpan]]:
    made, spans = provider()
    return made.get_tracer("tests"), spans


def remote(sampled: bool, state: str = "") -> context_api.Context:
    flags = "01" if sampled else "00"
    carrier = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-{flags}"}
    if state:
        carrier["tracestate"] = state
    return PROPAGATOR.extract(carrier)


# -- creation, parents, context ----------------------------------------------------------------


def test_start_span_does_not_make_the_span_current(tracer_and_spans: Any) -> None:
    tracer, _ = tracer_and_spans
    root = tracer.start_span("root")
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN
    with trace_api.use_span(root, end_on_exit=True):
        assert trace_api.get_current_span() is root
        child = tracer.start_span("child", kind=SpanKind.CLIENT)
        assert trace_api.get_current_span() is root
        child.end()
    assert child.parent == root.get_span_context()
    assert child.kind is SpanKind.CLIENT
    assert child.get_span_context().trace_id == root.get_span_context().trace_id
    assert child.get_span_context().span_id != root.get_span_context().span_id
    assert root.end_time is not None
    assert root.start_time is not None
    assert root.start_time <= root.end_time


def test_start_as_current_span_nests_and_restores(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("root") as root:
        with tracer.start_as_current_span("child") as child:
            assert trace_api.get_current_span() is child
        assert trace_api.get_current_span() is root
    assert trace_api.get_current_span() is trace_api.INVALID_SPAN
    assert [span.name for span in spans] == ["child", "root"]
    assert spans[0].parent == spans[1].context
    assert spans[1].parent is None


def test_explicit_context_wins_over_the_current_span(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    other = trace_api.SpanContext(
        0xDEADBEEF, 0xDEADBEF0, is_remote=False, trace_flags=trace_api.TraceFlags(1)
    )
    with tracer.start_as_current_span("root"):
        step = tracer.start_span(
            "stepchild", context=trace_api.set_span_in_context(trace_api.NonRecordingSpan(other))
        )
        step.end()
    assert spans[0].parent == other
    assert spans[0].context.trace_id == 0xDEADBEEF


def test_an_empty_context_makes_a_new_root(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with (
        tracer.start_as_current_span("root"),
        tracer.start_as_current_span("fresh", context=context_api.Context()),
    ):
        pass
    assert spans[0].parent is None
    assert spans[0].context.trace_id != spans[1].context.trace_id


def test_remote_parent_in_and_traceparent_out(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span(
        "server", context=remote(True, "congo=t61rcWkgMzE"), kind=SpanKind.SERVER
    ):
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
    (span,) = spans
    assert span.parent is not None
    assert span.parent.is_remote
    assert span.parent.span_id == int("cd" * 8, 16)
    assert span.context.trace_id == int("ab" * 16, 16)
    assert not span.context.is_remote
    assert span.context.trace_state == span.parent.trace_state
    assert carrier["traceparent"] == f"00-{'ab' * 16}-{span.context.span_id:016x}-01"
    assert carrier["tracestate"] == "congo=t61rcWkgMzE"


def test_random_ids_are_128_and_64_bit_and_flagged_random() -> None:
    made, spans = provider()
    tracer = made.get_tracer("t")
    for _ in range(50):
        tracer.start_span("s").end()
    trace_ids = {span.context.trace_id for span in spans}
    span_ids = {span.context.span_id for span in spans}
    assert len(trace_ids) == 50
    assert len(span_ids) == 50
    assert all(0 < t < 2**128 for t in trace_ids)
    assert all(0 < s < 2**64 for s in span_ids)
    assert max(trace_ids).bit_length() > 100
    assert max(span_ids).bit_length() > 50
    random_flag = getattr(trace_api.TraceFlags, "RANDOM_TRACE_ID", 0)
    assert all(span.context.trace_flags == trace_api.TraceFlags.SAMPLED | random_flag for span in spans)


# -- members and ended spans -------------------------------------------------------------------


def test_span_members(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    linked = trace_api.SpanContext(7, 8, is_remote=False)
    with tracer.start_as_current_span(
        "root", attributes={"start": 1}, links=[trace_api.Link(linked, {"l": 1})]
    ) as root:
        root.set_attribute("http.method", "GET")
        root.set_attribute("attr-key", "v1")
        root.set_attribute("attr-key", "v2")
        root.set_attributes({"misc.pi": 3.14, "list": [1, 2]})
        root.add_event("event0")
        root.add_event("event1", {"name": "birthday"}, timestamp=123)
        root.add_link(trace_api.SpanContext(9, 10, is_remote=True), {"name": "neighbor"})
        root.update_name("toor")
    (span,) = spans
    assert span.name == "toor"
    assert dict(span.attributes) == {
        "start": 1,
        "http.method": "GET",
        "attr-key": "v2",
        "misc.pi": 3.14,
        "list": (1, 2),
    }
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("event0", {}),
        ("event1", {"name": "birthday"}),
    ]
    assert span.events[1].timestamp == 123
    assert [(link.context.span_id, dict(link.attributes)) for link in span.links] == [
        (8, {"l": 1}),
        (10, {"name": "neighbor"}),
    ]


def test_an_ended_span_changes_no_more_and_reaches_the_sink_once(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    span = tracer.start_span("root")
    assert span.is_recording()
    span.end()
    end_time = span.end_time
    span.end()
    assert not span.is_recording()
    span.set_attribute("component", "http")
    span.set_attributes({"a": 1})
    span.add_event("event1")
    span.add_link(trace_api.SpanContext(1, 2, is_remote=False))
    span.update_name("xxx")
    span.set_status(StatusCode.ERROR, "late")
    span.record_exception(ValueError("late"))
    assert spans == [span]
    assert span.end_time == end_time
    assert len(span.attributes) == 0
    assert span.events == ()
    assert span.links == ()
    assert span.name == "root"
    assert span.status.status_code is StatusCode.UNSET
    with pytest.raises(TypeError):
        span.attributes["x"] = 1  # type: ignore[index]


def test_explicit_start_and_end_times(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    tracer.start_span("s", start_time=123).end(456)
    assert (spans[0].start_time, spans[0].end_time) == (123, 456)


def test_invalid_links_are_dropped_unless_they_carry_attributes(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    invalid = trace_api.INVALID_SPAN_CONTEXT
    span = tracer.start_span("s", links=[trace_api.Link(invalid), trace_api.Link(invalid, {"why": "kept"})])
    span.add_link(invalid)
    span.add_link(invalid, {"why": "kept too"})
    span.end()
    assert [dict(link.attributes) for link in spans[0].links] == [{"why": "kept"}, {"why": "kept too"}]


# -- status ------------------------------------------------------------------------------------


def test_ok_is_never_overwritten(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("s") as span:
        span.set_status(StatusCode.OK)
        span.set_status(StatusCode.ERROR, "too late")
        span.set_status(Status(StatusCode.ERROR))
    assert spans[0].status.status_code is StatusCode.OK


def test_error_then_ok_and_unset_ignored(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("s") as span:
        span.set_status(StatusCode.ERROR, "first")
        span.set_status(StatusCode.UNSET)
        span.set_status(Status(StatusCode.UNSET))
        assert span.status.description == "first"
        span.set_status(Status(StatusCode.OK))
    assert spans[0].status.status_code is StatusCode.OK


def test_a_description_is_kept_only_with_error(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("s") as span:
        span.set_status(StatusCode.OK, "fine")
    with tracer.start_as_current_span("t") as span:
        span.set_status(Status(StatusCode.ERROR, "inner"), "ignored beside a Status")
    assert spans[0].status.description is None
    assert (spans[1].status.status_code, spans[1].status.description) == (StatusCode.ERROR, "inner")


# -- exceptions --------------------------------------------------------------------------------


class AppError(Exception):
    pass


def test_record_exception_is_one_event_with_type_message_stacktrace_escaped(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("s") as span:
        try:
            raise AppError("boom")
        except AppError as exc:
            span.record_exception(exc, {"exception.message": "override", "extra": 1}, timestamp=99)
    (event,) = spans[0].events
    assert event.name == "exception"
    assert event.timestamp == 99
    attributes = dict(event.attributes)
    assert attributes["exception.type"] == f"{__name__}.AppError"
    assert attributes["exception.message"] == "override"
    assert attributes["exception.escaped"] == "False"
    assert attributes["extra"] == 1
    assert attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert 'raise AppError("boom")' in attributes["exception.stacktrace"]
    assert attributes["exception.stacktrace"].endswith("AppError: boom\n")


def test_a_builtin_exception_type_is_not_qualified(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with tracer.start_as_current_span("s") as span:
        span.record_exception(KeyError("k"))
    assert spans[0].events[0].attributes["exception.type"] == "KeyError"
    assert spans[0].events[0].attributes["exception.message"] == "'k'"


def test_span_as_context_manager_records_an_escaped_exception_and_error(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with pytest.raises(AppError), tracer.start_span("s"):
        raise AppError("out")
    (span,) = spans
    assert span.events[0].attributes["exception.escaped"] == "True"
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "AppError: out")


def test_record_exception_and_set_status_on_exception_can_be_turned_off(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    with (
        pytest.raises(AppError),
        tracer.start_span("s", record_exception=False, set_status_on_exception=False),
    ):
        raise AppError("out")
    with pytest.raises(AppError), tracer.start_as_current_span("t", record_exception=False):
        raise AppError("out")
    assert spans[0].events == ()
    assert spans[0].status.status_code is StatusCode.UNSET
    assert spans[1].events == ()
    assert spans[1].status.status_code is StatusCode.ERROR


def test_an_explicit_status_survives_the_exception(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans

    def work() -> None:
        with tracer.start_as_current_span("s") as span:
            span.set_status(StatusCode.OK)
            raise AppError("out")

    with pytest.raises(AppError):
        work()
    assert spans[0].status.status_code is StatusCode.OK
    assert len(spans[0].events) == 1


# -- limits ------------------------------------------------------------------------------------


def test_attribute_count_limit_drops_the_oldest_and_counts() -> None:
    made, spans = provider(environ={"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "2"})
    with made.get_tracer("t").start_as_current_span("s", attributes={"a": 1}) as span:
        span.set_attribute("b", 2)
        span.set_attribute("c", 3)
        span.set_attribute("", 4)  # an invalid key is dropped and counted too
    assert dict(spans[0].attributes) == {"b": 2, "c": 3}
    assert spans[0].dropped_attributes == 2


def test_value_length_limits_truncate_strings_span_and_event_apart() -> None:
    environ = {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "3", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5"}
    made, spans = provider(environ=environ)
    with made.get_tracer("t").start_as_current_span("s") as span:
        span.set_attribute("s", "abcdefgh")
        span.set_attribute("l", ["abcdefgh", "ab"])
        span.add_event("e", {"s": "abcdefgh"})
    assert spans[0].attributes["s"] == "abcde"
    assert spans[0].attributes["l"] == ("abcde", "ab")
    assert spans[0].events[0].attributes["s"] == "abc"


def test_event_and_link_limits_keep_the_newest_and_count() -> None:
    environ = {
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "2",
        "OTEL_SPAN_LINK_COUNT_LIMIT": "1",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "1",
        "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "1",
    }
    made, spans = provider(environ=environ)
    links = [trace_api.Link(trace_api.SpanContext(1, i, is_remote=False), {"a": 1, "b": 2}) for i in (1, 2)]
    with made.get_tracer("t").start_as_current_span("s", links=links) as span:
        for index in range(4):
            span.add_event(f"e{index}", {"a": 1, "b": 2})
    (recorded,) = spans
    assert [event.name for event in recorded.events] == ["e2", "e3"]
    assert recorded.dropped_events == 2
    assert [event.dropped_attributes for event in recorded.events] == [1, 1]
    assert [link.context.span_id for link in recorded.links] == [2]
    assert recorded.dropped_links == 1
    assert recorded.links[0].dropped_attributes == 1


def test_zero_limits_and_unset_values() -> None:
    environ = {
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "0",
        "OTEL_ATTRIBUTE_COUNT_LIMIT": "",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "",
    }
    made, spans = provider(environ=environ)
    with made.get_tracer("t").start_as_current_span("s", attributes={f"k{i}": i for i in range(200)}) as span:
        span.add_event("gone")
    assert len(spans[0].attributes) == 200
    assert spans[0].events == ()
    assert spans[0].dropped_events == 1


# -- samplers ----------------------------------------------------------------------------------


def test_always_off_gives_a_non_recording_span_with_a_valid_unsampled_context() -> None:
    made, spans = provider(environ={"OTEL_TRACES_SAMPLER": "always_off"})
    with made.get_tracer("t").start_as_current_span("s") as span:
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier)
    assert isinstance(span, trace_api.NonRecordingSpan)
    assert span.get_span_context().is_valid
    assert not span.get_span_context().trace_flags.sampled
    assert carrier["traceparent"].endswith("-02")  # not sampled, random trace id
    assert spans == []


def test_trace_id_ratio_compares_the_low_64_bits_with_the_bound() -> None:
    bound = round(0.25 * 2**64)
    made, _ = provider(
        sampler=_recorder.make_sampler("traceidratio", 0.25),
        id_generator=Ids([(5 << 64) | (bound - 1), bound, (7 << 64) | bound]),
    )
    tracer = made.get_tracer("t")
    results = [tracer.start_span("s").is_recording() for _ in range(3)]
    assert results == [True, False, False]


@pytest.mark.parametrize(
    ("sampler", "arg", "sampled", "expected"),
    [
        ("parentbased_always_off", None, True, True),
        ("parentbased_always_on", None, False, False),
        ("parentbased_traceidratio", "0", True, True),
        ("always_on", None, False, True),
        ("always_off", None, True, False),
        ("traceidratio", "1", False, True),
    ],
)
def test_samplers_from_the_environment_with_a_remote_parent(
    sampler: str, arg: str | None, sampled: bool, expected: bool
) -> None:
    environ = {"OTEL_TRACES_SAMPLER": sampler.upper()}
    if arg is not None:
        environ["OTEL_TRACES_SAMPLER_ARG"] = arg
    made, _ = provider(environ=environ)
    span = made.get_tracer("t").start_span("s", context=remote(sampled))
    assert span.is_recording() is expected
    assert span.get_span_context().trace_flags.sampled is expected


def test_a_bad_ratio_reads_as_one_like_the_sdk() -> None:
    for arg in ("", "x", "2", "-1", "nan"):
        sampler = _recorder.sampler_from_env(
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": arg}
        )
        assert sampler(None, 2**64 - 1), arg


# -- provider, tracers, resource ---------------------------------------------------------------


def test_tracers_are_cached_per_scope_and_scopes_read_like_the_sdk() -> None:
    made, spans = provider()
    first = made.get_tracer("lib", "1.0", "https://schema", {"a": 1})
    assert made.get_tracer("lib", "1.0", "https://schema", {"a": 1}) is first
    assert made.get_tracer("lib", "2.0") is not first
    first.start_span("s").end()
    made.get_tracer("").start_span("t").end()
    scope = spans[0].instrumentation_scope
    assert (scope.name, scope.version, scope.schema_url, dict(scope.attributes)) == (
        "lib",
        "1.0",
        "https://schema",
        {"a": 1},
    )
    assert (spans[1].instrumentation_scope.name, spans[1].instrumentation_scope.version) == ("", "")


def test_otel_sdk_disabled_hands_out_no_op_tracers() -> None:
    made, _ = provider(environ={"OTEL_SDK_DISABLED": "true"})
    assert isinstance(made.get_tracer("t"), trace_api.NoOpTracer)


def test_the_resource_is_lazyotel_s_and_follows_the_standard_variables() -> None:
    environ = {
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,note=a%20b,broken",
        "OTEL_SERVICE_NAME": "env",
    }
    resource = _recorder.build_resource({"host.name": "h"}, version="1.2.3", environ=environ)
    attributes = dict(resource.attributes)
    assert attributes.pop("service.instance.id")
    assert attributes == {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "lazyotel",
        "telemetry.sdk.version": "1.2.3",
        "deployment.environment": "prod",
        "note": "a b",
        "service.name": "env",
        "host.name": "h",
    }
    code_wins = _recorder.build_resource({"service.name": "code"}, version="1", environ=environ)
    assert code_wins.attributes["service.name"] == "code"
    unnamed = _recorder.build_resource(None, version="1", environ={})
    assert unnamed.attributes["service.name"].startswith("unknown_service")


def test_a_failing_sink_never_reaches_the_traced_code() -> None:
    delivered: list[str] = []

    def sink(span: _recorder.RecordedSpan) -> None:
        if span.name == "bad":
            raise OSError("disk full")
        delivered.append(span.name)

    made, _ = provider(sink=sink)
    tracer = made.get_tracer("t")
    with tracer.start_as_current_span("bad"):
        pass
    with tracer.start_as_current_span("good"):
        pass
    assert delivered == ["good"]


def test_the_record_exposes_the_sdk_readable_span_surface() -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    made, spans = provider()
    made.get_tracer("t").start_span("s").end()
    wanted = {
        name
        for name in dir(ReadableSpan)
        if not name.startswith("_") and name not in ("to_json", "instrumentation_info")
    }
    missing = {name for name in wanted if not hasattr(spans[0], name)}
    assert missing == set()


# -- the fallback rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        ({"OTEL_TRACES_SAMPLER": "my_sampler"}, "OTEL_TRACES_SAMPLER='my_sampler'"),
        (
            {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        ({"OTEL_PYTHON_ID_GENERATOR": "xray"}, "OTEL_PYTHON_ID_GENERATOR"),
        ({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "process"}, "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"),
        ({"OTEL_PYTHON_TRACER_PROVIDER": "other"}, "OTEL_PYTHON_TRACER_PROVIDER"),
        ({"OTEL_SPAN_EVENT_COUNT_LIMIT": "-1"}, "OTEL_SPAN_EVENT_COUNT_LIMIT"),
        ({"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "ten"}, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
    ],
)
def test_unsupported_configurations_name_the_variable(environ: dict[str, str], needle: str) -> None:
    reason = _recorder.unsupported_reason(environ)
    assert reason is not None
    assert needle in reason


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_TRACES_SAMPLER": "ParentBased_TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
        {"OTEL_TRACES_SAMPLER": "always_off"},
        {"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "", "OTEL_SPAN_EVENT_COUNT_LIMIT": " 3 "},
        {"OTEL_PYTHON_ID_GENERATOR": "", "OTEL_RESOURCE_ATTRIBUTES": "a=b", "OTEL_SERVICE_NAME": "s"},
    ],
)
def test_standard_configurations_are_supported(environ: dict[str, str]) -> None:
    assert _recorder.unsupported_reason(environ) is None


# -- threads -----------------------------------------------------------------------------------


def test_32_threads_recording_at_once_lose_and_tear_nothing() -> None:
    made, spans = provider()
    tracer = made.get_tracer("t")
    per_thread = 200
    barrier = threading.Barrier(32)

    def work(thread: int) -> None:
        barrier.wait()
        for index in range(per_thread):
            with tracer.start_as_current_span(f"{thread}.{index}", attributes={"thread": thread}) as outer:
                with tracer.start_as_current_span("inner") as inner:
                    inner.set_attribute("index", index)
                    inner.add_event("e", {"thread": thread})
                outer.set_attribute("index", index)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(spans) == 32 * per_thread * 2
    assert len({span.context.span_id for span in spans}) == len(spans)
    outers = {span.context.span_id: span for span in spans if span.name != "inner"}
    for span in spans:
        if span.name == "inner":
            parent = outers[span.parent.span_id]
            assert parent.context.trace_id == span.context.trace_id
            assert dict(span.attributes) == {"index": parent.attributes["index"]}
            assert dict(span.events[0].attributes) == {"thread": parent.attributes["thread"]}
        else:
            assert span.name == f"{span.attributes['thread']}.{span.attributes['index']}"


def test_32_threads_writing_one_span_keep_every_write() -> None:
    made, spans = provider(
        environ={"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "100000", "OTEL_SPAN_EVENT_COUNT_LIMIT": "100000"}
    )
    span = made.get_tracer("t").start_span("shared")
    barrier = threading.Barrier(32)

    def work(thread: int) -> None:
        barrier.wait()
        for index in range(100):
            span.set_attribute(f"{thread}.{index}", index)
            span.add_event(f"{thread}.{index}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    span.end()
    (recorded,) = spans
    assert len(recorded.attributes) == 3200
    assert len({event.name for event in recorded.events}) == 3200
    assert recorded.dropped_attributes == 0
    assert recorded.dropped_events == 0


FORK_CODE = """
import os, sys
from lazyotel import _recorder
spans = []
attributes = {"service.instance.id": "mine"} if sys.argv[1] == "set" else {}
provider = _recorder.RecordingProvider(
    spans.append, resource=_recorder.build_resource(attributes, version="0"), environ={}
)
tracer = provider.get_tracer("t")
tracer.start_span("parent").end()
pid = os.fork()
if pid == 0:
    tracer.start_span("child").end()
    ids = [span.resource.attributes["service.instance.id"] for span in spans]
    print(*ids)
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.parametrize("given", ["generated", "set"])
def test_a_forked_child_gets_its_own_instance_id_unless_one_was_given(
    given: str, subprocess_env: dict[str, str]
) -> None:
    proc = run_child(FORK_CODE, subprocess_env, given, level=None)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.split()
    if given == "set":
        assert (before, after) == ("mine", "mine")
    else:
        assert before != after


def test_ids_come_from_urandom_until_random_is_worth_importing(subprocess_env: dict[str, str]) -> None:
    """A few spans do not import ``random`` (about 1 ms); after 256 ids it is used, ids stay unique."""
    code = (
        "import sys\n"
        "from lazyotel import _recorder\n"
        "ids = _recorder.RandomIds()\n"
        "first = [ids.generate_span_id() for _ in range(100)]\n"
        "print('random' in sys.modules)\n"
        "rest = [ids.generate_trace_id() for _ in range(1000)]\n"
        "import random\n"
        "print(ids._bits == random.getrandbits, len(set(first)), len(set(rest)))\n"
        "print(max(first).bit_length() > 56, max(rest).bit_length() > 120, min(first + rest) > 0)\n"
    )
    proc = run_child(code, subprocess_env, level=None)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "100", "1000", "True", "True", "True"]


def test_an_invalid_parent_context_makes_a_root(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    invalid = trace_api.set_span_in_context(trace_api.INVALID_SPAN)
    tracer.start_span("root", context=invalid).end()
    assert spans[0].parent is None
    assert spans[0].context.is_valid


def test_a_list_attribute_is_kept_as_it_was_set(tracer_and_spans: Any) -> None:
    tracer, spans = tracer_and_spans
    values = [1, 2]
    with tracer.start_as_current_span("s", attributes={"start": values}) as span:
        span.set_attribute("later", values)
        values.append(3)
    assert spans[0].attributes["start"] == (1, 2)
    assert spans[0].attributes["later"] == (1, 2)


def test_a_span_processor_a_user_adds_still_gets_the_spans() -> None:
    """Best effort: SDK export processors read the ReadableSpan surface, so they work on records."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    made, spans = provider()
    exporter = InMemorySpanExporter()
    made.add_span_processor(SimpleSpanProcessor(exporter))
    with made.get_tracer("t").start_as_current_span("s"):
        pass
    assert made.force_flush()
    made.shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["s"]
    assert spans == list(exporter.get_finished_spans())
