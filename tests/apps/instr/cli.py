"""A CLI for the deferred-instrumentation tests, run as a child process.

    python cli.py none             # a traced command that never imports httpx
    python cli.py sync URL         # ... that imports httpx inside the command and GETs URL
    python cli.py async URL        # ... the same with httpx.AsyncClient
    python cli.py early URL        # httpx imported and a client built before the first span

At exit (after lazyotel's own exit flush) it prints one JSON line on stdout: the telemetry
modules loaded and whether httpx's transport is instrumented.
"""

from __future__ import annotations

import atexit
import json
import sys

WATCHED = ("httpx", "httpcore", "wrapt", "opentelemetry.instrumentation", "importlib.metadata")


def _report() -> None:
    loaded = sorted(m for m in sys.modules if m.startswith(WATCHED))
    httpx = sys.modules.get("httpx")
    wrapper = type(vars(httpx.HTTPTransport)["handle_request"]).__name__ if httpx else None
    print(json.dumps({"modules": loaded, "handle_request": wrapper}), flush=True)


atexit.register(_report)  # registered before lazyotel's handler, so it runs after it

import lazyotel  # noqa: E402

lazyotel.bootstrap(
    "instr-app",
    instrument=["httpx"],
    resource_attributes={"deployment.environment": "ci"},
    flush_timeout=5.0,
)


@lazyotel.trace_command
def fetch(how: str, url: str | None = None) -> str | None:
    if how == "none":
        return None
    import httpx

    client = EARLY_CLIENT or httpx.Client()
    with client:
        return client.get(url).text


@lazyotel.trace_command("fetch")
async def fetch_async(url: str) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text


EARLY_CLIENT = None
if __name__ == "__main__":
    how = sys.argv[1]
    url = sys.argv[2] if len(sys.argv) > 2 else None
    if how == "early":
        import httpx

        EARLY_CLIENT = httpx.Client()  # built before telemetry starts
    if how == "async":
        import asyncio

        result = asyncio.run(fetch_async(url))
    else:
        result = fetch(how, url)
    sys.exit(0 if result in (None, "ok") else f"unexpected answer: {result!r}")
