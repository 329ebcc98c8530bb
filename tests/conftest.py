"""Shared fixtures: every test starts and ends with clean OpenTelemetry and lazyotel globals."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _child import child_env

import lazyotel.testing

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_globals() -> Iterator[None]:
    yield
    lazyotel.testing.reset()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """The environment for a child Python: no pytest markers (so it is not in test mode
    unless a test says so), no OTEL_* from the developer's shell, bytecode allowed."""
    return child_env()


PYTHON = sys.executable
