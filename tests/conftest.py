"""Shared fixtures: every test starts and ends with clean OpenTelemetry and lazyotel globals."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _child import NO_SPOOL, child_env

import lazyotel.testing

ROOT = Path(__file__).resolve().parent.parent

# Most of the suite tests inline delivery without a spool (export from the command, the
# bounded exit, the drop report): it says so once, here (and ``child_env`` for children). A
# spool that cannot be created (under /dev/null) keeps inline delivery from spilling into it
# and starts no shipper. Hand-off tests (tests/test_handoff.py) set LAZYOTEL_DELIVERY=handoff
# and a spool of their own. Whatever a test does, nothing reaches the developer's own spool.
os.environ["LAZYOTEL_DELIVERY"] = "inline"
os.environ["LAZYOTEL_SPOOL_DIR"] = NO_SPOOL
# A child whose environment drops LAZYOTEL_* falls back to the default spool under
# $XDG_STATE_HOME: there, too, one that cannot be created (a warning, never the home directory).
os.environ["XDG_STATE_HOME"] = os.devnull

# Most of the suite tests inline delivery without a spool (export from the command, the
# bounded exit, the drop report): it says so once, here. A spool that cannot be created
# (under /dev/null) keeps inline delivery from spilling into it and starts no shipper.
# Hand-off tests (tests/test_handoff.py) set LAZYOTEL_DELIVERY=handoff and a spool of their own.
# Whatever a test does, nothing reaches the developer's own spool.
_NO_SPOOL = os.path.join(os.devnull, "lazyotel-spool")  # its parent is not a directory
os.environ["LAZYOTEL_DELIVERY"] = "inline"
os.environ["LAZYOTEL_SPOOL_DIR"] = _NO_SPOOL
# A child whose environment drops LAZYOTEL_* falls back to the default spool under
# $XDG_STATE_HOME: there, too, one that cannot be created (a warning, never the home directory).
os.environ["XDG_STATE_HOME"] = os.devnull


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
