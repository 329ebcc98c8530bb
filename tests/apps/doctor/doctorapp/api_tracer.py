"""Unrelated code that gets a tracer at module level: the OpenTelemetry API only."""

from opentelemetry import trace

tracer = trace.get_tracer("doctorapp")
