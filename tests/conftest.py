"""Shared fixtures: every test starts and ends with clean OpenTelemetry and lazyotel globals."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _child import NO_SPOOL, child_env, site_without

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
# The receiver's gRPC server runs in this process. With grpc's fork support on, the child of a
# fork() that Python 3.9's subprocess makes (3.10+ uses vfork) runs grpc's at-fork handler
# before exec, and grpcio 1.80 can abort it there ("epoll_wait error: Bad file descriptor"):
# the CLI under test dies with SIGABRT before it starts. The tests start processes; they never
# fork a process that keeps using gRPC.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


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


@pytest.fixture(scope="module")
def site_without_exporters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """site-packages without the OTLP exporters (see ``_child.site_without``)."""
    return site_without(
        tmp_path_factory.mktemp("site"),
        "opentelemetry/exporter/otlp/proto/http",
        "opentelemetry/exporter/otlp/proto/grpc",
    )
