"""The recorder's configuration, with no OpenTelemetry import: is it supported, limits, ids, samplers.

Split from ``lazyotel._recorder`` so the caller can decide between the recorder and the SDK
(:func:`unsupported_reason`) before importing either. Everything here reads the standard
``OTEL_*`` variables with the SDK's rules (``opentelemetry.sdk.trace.SpanLimits``,
``sampling._get_from_env_or_default``, ``id_generator.RandomIdGenerator``).

Pipelines floor: imports nothing of lazyotel's and nothing of OpenTelemetry.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Callable, Optional

    from opentelemetry.trace import SpanContext

    Sampler = Callable[[Optional[SpanContext], int], bool]

# -- configuration that needs the real SDK ------------------------------------------------------

_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_COUNT_LIMITS = (
    "OTEL_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OTEL_SPAN_LINK_COUNT_LIMIT",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
)
_DEFAULT_LIMIT = 128


def unsupported_reason(environ: Mapping[str, str]) -> str | None:
    """Why this environment needs the OpenTelemetry SDK, or None when the recorder does it all.

    The recorder does what the SDK's ``TracerProvider`` does with the standard variables. The
    rest (a sampler or id generator loaded by entry point, extra resource detectors, another
    provider, a malformed limit the SDK would reject) is the SDK's: the caller uses it instead,
    where it keeps its own warnings and rules.

    Args:
        environ: the process environment (``os.environ``).

    Returns:
        One sentence for a debug line, or None.
    """
    if not _api_has_what_the_recorder_uses():
        return "the installed opentelemetry-api is older than the recorder needs"
    sampler = environ.get("OTEL_TRACES_SAMPLER")
    if sampler is not None and sampler.lower() not in _SAMPLERS:
        return f"OTEL_TRACES_SAMPLER={sampler!r} is not a standard sampler"
    if sampler is not None and sampler.lower().endswith("traceidratio"):
        arg = environ.get("OTEL_TRACES_SAMPLER_ARG")
        if arg is not None and _ratio(arg) is None:
            return f"OTEL_TRACES_SAMPLER_ARG={arg!r} is not a ratio in [0, 1]"
    for name in (
        "OTEL_PYTHON_ID_GENERATOR",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS",
        "OTEL_PYTHON_TRACER_PROVIDER",
    ):
        if environ.get(name, "").strip():
            return f"{name} is set (entry points only the SDK loads)"
    for name in _COUNT_LIMITS:
        value = environ.get(name)
        if value is not None and _limit(value) is False:
            return f"{name}={value!r} is not a non-negative integer"
    return None


def _api_has_what_the_recorder_uses() -> bool:
    """``opentelemetry.util._decorator`` (the API's context manager that is also a decorator)
    came with opentelemetry-api 1.23; looked for on disk, so nothing is imported to decide."""
    relative = os.path.join("opentelemetry", "util", "_decorator.py")
    return any(os.path.isfile(os.path.join(entry or ".", relative)) for entry in sys.path)


def _ratio(text: str) -> float | None:
    try:
        rate = float(text)
    except ValueError:
        return None
    return rate if 0.0 <= rate <= 1.0 else None


def _limit(text: str) -> int | bool | None:
    """An environment limit as the SDK reads it: an int, None (no limit), or False (invalid)."""
    text = text.strip().lower()
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        return False
    return value if value >= 0 else False


# -- limits -------------------------------------------------------------------------------------


class Limits:
    """The span limits, read from the environment as ``opentelemetry.sdk.trace.SpanLimits`` reads them.

    None is no limit. A malformed value reads as its default here (:func:`unsupported_reason`
    sends such a configuration to the SDK, which raises on it).
    """

    __slots__ = (
        "max_attribute_length",
        "max_event_attributes",
        "max_events",
        "max_link_attributes",
        "max_links",
        "max_span_attribute_length",
        "max_span_attributes",
    )

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ

        def read(name: str, default: int | None) -> int | None:
            if name not in env:
                return default
            value = _limit(env[name])
            return default if value is False else value

        self.max_events = read("OTEL_SPAN_EVENT_COUNT_LIMIT", _DEFAULT_LIMIT)
        self.max_links = read("OTEL_SPAN_LINK_COUNT_LIMIT", _DEFAULT_LIMIT)
        shared = read("OTEL_ATTRIBUTE_COUNT_LIMIT", None)
        fallback = shared if shared is not None else _DEFAULT_LIMIT
        self.max_span_attributes = read("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", fallback)
        self.max_event_attributes = read("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", fallback)
        self.max_link_attributes = read("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", fallback)
        self.max_attribute_length = read("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", None)
        self.max_span_attribute_length = read(
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", self.max_attribute_length
        )


# -- ids and samplers ---------------------------------------------------------------------------


def _system_bits(count: int) -> int:
    return int.from_bytes(os.urandom(count // 8), "big")


class RandomIds:
    """Random 128-bit trace ids and 64-bit span ids, never zero, as the SDK's ``RandomIdGenerator``.

    The SDK draws them from ``random.getrandbits``. Importing ``random`` costs about 1 ms, more
    than a CLI's handful of spans cost to draw from ``os.urandom`` (about 0.4 us each): so the
    first ids come from ``os.urandom``, and ``random`` is used once it is imported anyway or
    after 256 ids. Both are uniform; both are fork-safe (``random`` reseeds in a forked child).
    """

    __slots__ = ("_bits", "_drawn")

    def __init__(self) -> None:
        self._bits: Callable[[int], int] | None = None
        self._drawn = 0

    def _draw(self, count: int) -> int:
        bits = self._bits
        if bits is None:
            self._drawn += 1
            random = sys.modules.get("random")
            if random is None and self._drawn > 256:
                import random
            if random is None:
                bits = _system_bits
            else:
                bits = self._bits = random.getrandbits
        value = bits(count)
        while value == 0:
            value = bits(count)
        return value

    def generate_span_id(self) -> int:
        return self._draw(64)

    def generate_trace_id(self) -> int:
        return self._draw(128)

    def is_trace_id_random(self) -> bool:
        return True


# A sampler is ``sampler(parent, trace_id) -> sampled``; ``parent`` is the valid parent context or
# None. (The ``Sampler`` alias exists for type checkers only: no typing work at import.)

_TRACE_ID_LIMIT = (1 << 64) - 1


def make_sampler(name: str = "parentbased_always_on", arg: float | None = None) -> Sampler:
    """One of the standard samplers by its ``OTEL_TRACES_SAMPLER`` name, with the SDK's rules.

    Args:
        name: ``always_on``, ``always_off``, ``traceidratio`` or their ``parentbased_`` forms.
        arg: the ratio of the ``traceidratio`` samplers (1.0 when None or out of range).

    Raises:
        ValueError: for another name.
    """
    name = name.lower()
    if name not in _SAMPLERS:
        msg = f"sampler {name!r} is not one of {', '.join(_SAMPLERS)}"
        raise ValueError(msg)
    base = name[len("parentbased_") :] if name.startswith("parentbased_") else name
    if base == "always_on":
        root: Sampler = _always_on
    elif base == "always_off":
        root = _always_off
    else:
        rate = arg if arg is not None and 0.0 <= arg <= 1.0 else None
        # The SDK keeps the last 64 bits of the trace id below a bound; a bad rate reads as 1.0.
        bound = round((1.0 if rate is None else rate) * (_TRACE_ID_LIMIT + 1))

        def root(parent: SpanContext | None, trace_id: int) -> bool:
            return trace_id & _TRACE_ID_LIMIT < bound

    if not name.startswith("parentbased_"):
        return root

    def parent_based(parent: SpanContext | None, trace_id: int) -> bool:
        # Remote and local parents both follow the parent's sampled flag (the SDK's defaults).
        if parent is None:
            return root(parent, trace_id)
        return parent.trace_flags.sampled

    return parent_based


def _always_on(parent: SpanContext | None, trace_id: int) -> bool:
    return True


def _always_off(parent: SpanContext | None, trace_id: int) -> bool:
    return False


def sampler_from_env(environ: Mapping[str, str] | None = None) -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG`` name, as the SDK reads them."""
    env = os.environ if environ is None else environ
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").lower()
    if name not in _SAMPLERS:
        name = "parentbased_always_on"  # as the SDK does (unsupported_reason sends it there)
    rate = _ratio(env.get("OTEL_TRACES_SAMPLER_ARG", "")) if name.endswith("traceidratio") else None
    return make_sampler(name, rate)
