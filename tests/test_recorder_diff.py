"""The recorder against the OpenTelemetry SDK: the same workloads, the same OTLP, field by field.

Each workload (a hypothesis-generated tree of spans: attributes of every allowed type and
invalid ones, events, links, exceptions, statuses in every order, limits exceeded, samplers and
ratios, remote parents, ``traceparent`` out) runs once through ``lazyotel._recorder`` and once
through the SDK's ``TracerProvider`` + ``SimpleSpanProcessor`` + ``InMemorySpanExporter``, with
the same deterministic id generator given to both. Both span lists are encoded by the real OTLP
protobuf encoder (``encode_spans``) and compared as dicts: ids included; timestamps only where
the workload gave them (the clock differs between two runs); the resource's
``telemetry.sdk.name``/``version`` and random ``service.instance.id`` by key only.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lazyotel import _recorder

VERSION = "9.9.9"
FIXED_TIME_LIMIT = 10**12  # timestamps the workload gives are below this; the clock's are above


class FixedIds(IdGenerator):
    """Ids from a seeded generator: two instances with one seed give the same sequence."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        return True


class CustomError(Exception):
    pass


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- the workload interpreter (API calls only: the same code drives both providers) ------------

EXCEPTIONS = (ValueError, KeyError, CustomError, RuntimeError)
PROPAGATOR = TraceContextTextMapPropagator()


def _raise(kind: type[BaseException], message: str, cause: bool) -> None:
    if cause:
        try:
            raise OSError("the cause")
        except OSError as exc:
            raise kind(message) from exc
    raise kind(message)


def _caught(kind: type[BaseException], message: str, cause: bool) -> BaseException:
    try:
        _raise(kind, message, cause)
    except BaseException as exc:
        return exc
    raise AssertionError


class Run:
    """Executes one workload against one tracer, noting what the API returned along the way."""

    def __init__(self, tracer: trace_api.Tracer) -> None:
        self.tracer = tracer
        self.started: list[trace_api.Span] = []
        self.seen: list[Any] = []

    def link_context(self, spec: tuple[Any, ...]) -> trace_api.SpanContext:
        if spec[0] == "prev":
            if not self.started:
                return trace_api.INVALID_SPAN_CONTEXT
            return self.started[spec[1] % len(self.started)].get_span_context()
        if spec[0] == "invalid":
            return trace_api.INVALID_SPAN_CONTEXT
        _, trace_id, span_id, sampled, state = spec
        return trace_api.SpanContext(
            trace_id,
            span_id,
            is_remote=True,
            trace_flags=trace_api.TraceFlags(1 if sampled else 0),
            trace_state=trace_api.TraceState(state),
        )

    def parent_context(self, spec: tuple[Any, ...]) -> context_api.Context | None:
        if spec[0] == "inherit":
            return None
        if spec[0] == "root":
            return context_api.Context()
        _, header, state = spec
        carrier = {"traceparent": header}
        if state:
            carrier["tracestate"] = state
        return PROPAGATOR.extract(carrier)

    def span(self, node: dict[str, Any]) -> None:
        links = [trace_api.Link(self.link_context(spec), attrs) for spec, attrs in node["links"]]
        kwargs: dict[str, Any] = {
            "context": self.parent_context(node["parent"]),
            "kind": node["kind"],
            "attributes": node["attributes"],
            "links": links,
            "record_exception": node["record_exception"],
            "set_status_on_exception": node["set_status_on_exception"],
        }
        if node["start_time"] is not None:
            kwargs["start_time"] = node["start_time"]
        how = node["how"]
        exc = _caught(*node["raise"]) if node["raise"] else None
        try:
            if how == "current":
                with self.tracer.start_as_current_span(node["name"], **kwargs) as span:
                    self.body(span, node)
                    if exc is not None:
                        raise exc
            elif how == "with":
                with self.tracer.start_span(node["name"], **kwargs) as span:
                    self.body(span, node)
                    if exc is not None:
                        raise exc
            else:
                span = self.tracer.start_span(node["name"], **kwargs)
                with trace_api.use_span(span):
                    self.body(span, node)
                span.end(node["end_time"])
        except BaseException as caught:
            self.seen.append(("raised", type(caught).__name__))
        self.seen.append(("recording after end", span.is_recording()))
        for op in node["after"]:
            self.op(span, op)

    def body(self, span: trace_api.Span, node: dict[str, Any]) -> None:
        self.started.append(span)
        context = span.get_span_context()
        dropped = isinstance(span, trace_api.NonRecordingSpan)
        self.seen.append((dropped, span.is_recording(), int(context.trace_flags)))
        for op in node["ops"]:
            self.op(span, op)

    def op(self, span: trace_api.Span, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "attr":
            span.set_attribute(op[1], op[2])
        elif kind == "attrs":
            span.set_attributes(op[1])
        elif kind == "event":
            span.add_event(op[1], op[2], op[3])
        elif kind == "link":
            span.add_link(self.link_context(op[1]), op[2])
        elif kind == "exception":
            _, exc_args, attrs, timestamp, escaped = op
            span.record_exception(_caught(*exc_args), attrs, timestamp, escaped)
        elif kind == "status":
            _, as_object, code, description = op
            if as_object:
                span.set_status(Status(code, description))
            else:
                span.set_status(code, description)
        elif kind == "name":
            span.update_name(op[1])
        elif kind == "inject":
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
            self.seen.append(("injected", sorted(carrier.items())))
            if span.is_recording():
                span.set_attribute("out.traceparent", carrier.get("traceparent", ""))
        elif kind == "end":
            span.end(op[1])
        elif kind == "events":
            for index in range(op[1]):
                span.add_event(f"e{index}", {"i": index})
        elif kind == "links":
            for index in range(op[1]):
                span.add_link(self.link_context(("fixed", index + 1, index + 1, True, [])), {"i": index})
        elif kind == "child":
            self.span(op[1])


def run_workload(
    tracer: trace_api.Tracer, nodes: list[dict[str, Any]]
) -> tuple[list[Any], list[trace_api.Span]]:
    run = Run(tracer)
    for node in nodes:
        run.span(node)
    return run.seen, run.started


# -- the two pipelines ---------------------------------------------------------------------------


def sdk_sampler(name: str, rate: float | None) -> sampling.Sampler:
    known = sampling._KNOWN_SAMPLERS[name]
    return known(rate) if name.endswith("traceidratio") else known


def run_both(
    nodes: list[dict[str, Any]],
    *,
    seed: int = 1,
    sampler: tuple[str, float | None] = ("parentbased_always_on", None),
    environ: Mapping[str, str] | None = None,
    resource: Mapping[str, Any] | None = None,
    scope: tuple[str, str | None, str | None, Mapping[str, Any] | None] = ("work", "1.0", None, None),
    fixed_ids: bool = True,
) -> tuple[Any, Any]:
    """Run ``nodes`` through the recorder and through the SDK; return both (OTLP dict, observations)."""
    with patched_environ(environ or {}):
        exporter = InMemorySpanExporter()
        sdk = TracerProvider(
            sampler=sdk_sampler(*sampler),
            resource=Resource.create(dict(resource or {})),
            shutdown_on_exit=False,
            id_generator=FixedIds(seed) if fixed_ids else None,
            span_limits=SpanLimits(),
        )
        sdk.add_span_processor(SimpleSpanProcessor(exporter))
        recorded: list[_recorder.RecordedSpan] = []
        mine = _recorder.RecordingProvider(
            recorded.append,
            resource=_recorder.build_resource(resource, version=VERSION),
            sampler=_recorder.make_sampler(*sampler),
            id_generator=FixedIds(seed) if fixed_ids else None,
        )
        sdk_seen, _ = run_workload(sdk.get_tracer(*scope), nodes)
        our_seen, _ = run_workload(mine.get_tracer(*scope), nodes)
    return (normalise(encode_spans(recorded)), our_seen), (
        normalise(encode_spans(exporter.get_finished_spans())),
        sdk_seen,
    )


def normalise(request: Any) -> dict[str, Any]:
    data = MessageToDict(request)
    for resource_spans in data.get("resourceSpans", []):
        for attribute in resource_spans["resource"]["attributes"]:
            if attribute["key"] in ("telemetry.sdk.name", "telemetry.sdk.version", "service.instance.id"):
                attribute["value"] = "<differs by design>"
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans["spans"]:
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    span[key] = _time(span.get(key))
                for event in span.get("events", []):
                    event["timeUnixNano"] = _time(event.get("timeUnixNano"))
                    for attribute in event.get("attributes", []):
                        if attribute["key"] == "exception.stacktrace" and "stringValue" in attribute["value"]:
                            text = attribute["value"]["stringValue"]
                            attribute["value"]["stringValue"] = OWN_FRAME.sub("<provider frame>", text)
    return data


# A traceback through start_as_current_span shows the provider's own frame (file and line differ).
OWN_FRAME = re.compile(r'File "[^"]+", line \d+, in start_as_current_span\n    yield \w+\n')


def _time(value: str | None) -> str:
    if value is None or int(value) < FIXED_TIME_LIMIT:
        return str(value)
    return "<clock>"


# -- hypothesis strategies -----------------------------------------------------------------------


class Opaque:
    """No ``__str__``: the API replaces the value by None."""

    __slots__ = ()


class Named:
    """A custom ``__str__``: the API stores its text."""

    def __str__(self) -> str:
        return "named"


keys = st.sampled_from(["k", "http.method", "a.b", "x", "y", "z", "long", ""])
scalars = st.one_of(
    st.text(max_size=12),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.binary(max_size=6),
    st.none(),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=4), max_size=4),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=4).map(tuple),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", ""]), scalars, max_size=2),
    st.sampled_from([Opaque(), Named(), {1, 2}]),
)
attribute_maps = st.one_of(st.none(), st.dictionaries(keys, values, max_size=5))
small_ids = st.integers(min_value=0, max_value=2**64)
fixed_times = st.one_of(st.none(), st.integers(min_value=1, max_value=FIXED_TIME_LIMIT - 1))
link_specs = st.one_of(
    st.tuples(st.just("prev"), st.integers(0, 9)),
    st.tuples(st.just("invalid")),
    st.tuples(
        st.just("fixed"),
        st.integers(0, 2**128 - 1),
        st.integers(0, 2**64 - 1),
        st.booleans(),
        st.sampled_from([[], [("vendor", "v1")]]),
    ),
)
exception_args = st.tuples(st.sampled_from(EXCEPTIONS), st.text(max_size=8), st.booleans())
status_ops = st.tuples(
    st.just("status"),
    st.booleans(),
    st.sampled_from(list(StatusCode)),
    st.one_of(st.none(), st.text(max_size=6)),
)
leaf_ops = st.one_of(
    st.tuples(st.just("attr"), keys, values),
    st.tuples(st.just("attrs"), st.dictionaries(st.one_of(keys, st.just(3)), values, max_size=4)),
    st.tuples(st.just("event"), st.text(max_size=5), attribute_maps, fixed_times),
    st.tuples(st.just("link"), link_specs, attribute_maps),
    st.tuples(st.just("exception"), exception_args, attribute_maps, fixed_times, st.booleans()),
    status_ops,
    st.tuples(st.just("name"), st.text(max_size=5)),
    st.tuples(st.just("inject")),
    st.tuples(st.just("events"), st.integers(1, 6)),
    st.tuples(st.just("links"), st.integers(1, 6)),
)
after_ops = st.lists(
    st.one_of(leaf_ops, st.tuples(st.just("end"), fixed_times)),
    max_size=3,
)
headers = st.tuples(
    st.integers(1, 2**128 - 1),
    st.integers(1, 2**64 - 1),
    st.sampled_from(["00", "01", "02", "03"]),
).map(lambda t: f"00-{t[0]:032x}-{t[1]:016x}-{t[2]}")
parents = st.one_of(
    st.just(("inherit",)),
    st.just(("root",)),
    st.tuples(st.just("remote"), headers, st.sampled_from(["", "congo=t61rcWkgMzE", "a=1,b=2"])),
    st.tuples(st.just("remote"), st.just("garbage"), st.just("")),
)


def nodes(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    ops = leaf_ops if depth == 0 else st.one_of(leaf_ops, st.tuples(st.just("child"), nodes(depth - 1)))
    return st.fixed_dictionaries(
        {
            "name": st.text(max_size=6),
            "kind": st.sampled_from(list(trace_api.SpanKind)),
            "attributes": attribute_maps,
            "links": st.lists(st.tuples(link_specs, attribute_maps), max_size=6),
            "parent": parents,
            "how": st.sampled_from(["current", "with", "manual"]),
            "raise": st.one_of(st.none(), exception_args),
            "record_exception": st.booleans(),
            "set_status_on_exception": st.booleans(),
            "start_time": fixed_times,
            "end_time": fixed_times,
            "ops": st.lists(ops, max_size=6),
            "after": after_ops,
        }
    )


def plain_node(name: str, **fields: Any) -> dict[str, Any]:
    """One workload node as ``nodes`` draws it: an internal span, current, no raise, then ``fields``."""
    return {
        "name": name,
        "kind": trace_api.SpanKind.INTERNAL,
        "attributes": None,
        "links": [],
        "parent": ("inherit",),
        "how": "current",
        "raise": None,
        "record_exception": True,
        "set_status_on_exception": True,
        "start_time": None,
        "end_time": None,
        "ops": [],
        "after": [],
        **fields,
    }


workloads = st.lists(nodes(2), min_size=1, max_size=3)
samplers = st.one_of(
    st.tuples(
        st.sampled_from(["always_on", "always_off", "parentbased_always_on", "parentbased_always_off"]),
        st.none(),
    ),
    st.tuples(
        st.sampled_from(["traceidratio", "parentbased_traceidratio"]),
        st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]),
    ),
)
limit_values = st.one_of(st.integers(0, 4).map(str), st.just(""))
limit_environments = st.dictionaries(
    st.sampled_from(
        [
            "OTEL_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "OTEL_SPAN_LINK_COUNT_LIMIT",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        ]
    ),
    limit_values,
    max_size=4,
)

SETTINGS = settings(
    max_examples=int(os.environ.get("LAZYOTEL_DIFF_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quiet_api_warnings(caplog: pytest.LogCaptureFixture) -> None:
    # Invalid attributes make the API log warnings (both runs alike); they are not under test.
    caplog.set_level("CRITICAL")


@SETTINGS
@given(workload=workloads, sampler=samplers, seed=st.integers(0, 2**32))
def test_span_trees_encode_identically(workload: list[dict[str, Any]], sampler: Any, seed: int) -> None:
    """Trees of spans: attributes, events, links, exceptions, statuses, names, parents, samplers."""
    ours, sdk = run_both(workload, seed=seed, sampler=sampler)
    assert sdk == ours


@SETTINGS
@given(workload=workloads, environ=limit_environments)
def test_limits_from_the_environment_encode_identically(
    workload: list[dict[str, Any]], environ: dict[str, str]
) -> None:
    """Attribute, event and link limits from ``OTEL_*``: the same items kept, the same dropped counts."""
    ours, sdk = run_both(workload, environ=environ)
    assert sdk == ours


@SETTINGS
@given(
    attributes=st.dictionaries(st.sampled_from(["service.name", "a", "b", "host.name"]), values, max_size=3),
    env_attributes=st.sampled_from(["", "a=1,b=x%20y", "bad,service.name=from-env", "a=1=2, c = d "]),
    env_service=st.sampled_from([None, "", "env-service"]),
    scope_attributes=attribute_maps,
    schema=st.sampled_from([None, "", "https://opentelemetry.io/schemas/1.21.0"]),
)
def test_resource_and_scope_encode_identically(
    attributes: dict[str, Any],
    env_attributes: str,
    env_service: str | None,
    scope_attributes: dict[str, Any] | None,
    schema: str | None,
) -> None:
    """service.name, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME, scope name/version/schema/attributes."""
    environ = {"OTEL_RESOURCE_ATTRIBUTES": env_attributes}
    if env_service is not None:
        environ["OTEL_SERVICE_NAME"] = env_service
    one_span = [plain_node("s")]
    ours, sdk = run_both(
        one_span,
        environ=environ,
        resource=attributes,
        scope=("lib", "2.0", schema, scope_attributes),
    )
    assert sdk == ours


def test_random_ids_differ_but_the_shape_is_the_same() -> None:
    """With the default random ids: 128/64-bit, non-zero, one trace per root, parents linked alike."""
    workload = [
        plain_node(
            "root",
            kind=trace_api.SpanKind.SERVER,
            attributes={"a": 1},
            ops=[
                ("child", plain_node(f"c{i}", kind=trace_api.SpanKind.CLIENT, ops=[("inject",)]))
                for i in range(3)
            ],
        )
    ]
    (ours, _), (sdk, _) = run_both(workload, fixed_ids=False)

    def shape(data: dict[str, Any]) -> tuple[Any, ...]:
        spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
        names = {}
        for span in spans:
            names[span["spanId"]] = span["name"]
            span.pop("attributes", None)  # the injected traceparent carries the ids
        tree = [(span["name"], names.get(span.get("parentSpanId", ""))) for span in spans]
        traces = {span["traceId"] for span in spans}
        lengths = {(len(_raw(span["traceId"])), len(_raw(span["spanId"]))) for span in spans}
        return tree, len(traces), lengths

    assert shape(sdk) == shape(ours)
    assert shape(ours)[1:] == (1, {(16, 8)})


def _raw(b64: str) -> bytes:
    return base64.b64decode(b64)
