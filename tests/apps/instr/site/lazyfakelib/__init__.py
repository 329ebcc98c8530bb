"""A stand-in library for the deferred-instrumentation tests: instrumentors patch ``send``."""

IMPORTS = []  # hooks append here, to show they ran after the module body


def send(payload):
    return f"sent {payload}"
