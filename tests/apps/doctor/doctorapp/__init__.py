"""Tiny CLIs for the doctor's tests: ``eager`` imports OpenTelemetry at start-up, ``clean`` does not."""
