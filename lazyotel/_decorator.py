"""Placeholder: replaced by the trace_command implementation."""

from __future__ import annotations


def trace_command(*args: object, **kwargs: object) -> object:
    raise NotImplementedError
