"""Eager telemetry set-up: what lazyotel exists to avoid (the API, then the SDK)."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("doctorapp")
