"""Instrumentors for the fake libraries, real ``BaseInstrumentor`` subclasses."""

import sys

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

CALLS = []  # ("instrument" | "uninstrument", name), in order


class FakeInstrumentor(BaseInstrumentor):
    """Replaces ``lazyfakelib.send`` with a traced version; records its calls."""

    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        lib = sys.modules["lazyfakelib"]
        CALLS.append(("instrument", "lazyfakelib"))
        original = lib.send

        def send(payload):
            return "instrumented " + original(payload)

        send.original = original
        lib.send = send

    def _uninstrument(self, **kwargs):
        lib = sys.modules["lazyfakelib"]
        CALLS.append(("uninstrument", "lazyfakelib"))
        lib.send = getattr(lib.send, "original", lib.send)


class ClientInstrumentor(FakeInstrumentor):
    """Entry point ``lazyfake-client``: its name is no module, its requirement says lazyfakelib."""

    _instance = None
    _is_instrumented_by_opentelemetry = False


class BrokenInstrumentor(BaseInstrumentor):
    """Raises while instrumenting."""

    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        CALLS.append(("instrument", "lazyfakebroken"))
        raise RuntimeError("instrumentor exploded")

    def _uninstrument(self, **kwargs):
        CALLS.append(("uninstrument", "lazyfakebroken"))


class EagerInstrumentor(BaseInstrumentor):
    """Entry point ``lazyfake-eager``: no module of that name, no declared library."""

    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        CALLS.append(("instrument", "lazyfake-eager"))

    def _uninstrument(self, **kwargs):
        CALLS.append(("uninstrument", "lazyfake-eager"))


class AbsentInstrumentor(EagerInstrumentor):
    """Entry point ``lazyfake-absent``: declares a library that is not installed."""

    _instance = None
    _is_instrumented_by_opentelemetry = False
