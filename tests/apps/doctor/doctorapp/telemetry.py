"""Eager telemetry set-up: what lazyotel exists to avoid."""

from opentelemetry import trace

tracer = trace.get_tracer("doctorapp")
