"""What every ktrade command shares: the CLI state, API calls with retries, output, errors.

No telemetry here: the httpx client spans come from lazyotel's deferred instrumentation, and
``httpx`` itself is imported inside the calls, so ``--help`` never loads it.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn, Optional
from urllib.parse import urlsplit

import typer

DEFAULT_URL = "http://127.0.0.1:8000"
#: The example's convention (ktrdr's too): the collector runs on the API host, on this port.
DEFAULT_OTLP_PORT = 4318
RETRY_BACKOFF = 0.05  # seconds before the 2nd attempt; doubles each time
TIMEOUT = 5.0


class State:
    """What the root callback learns (``--url``, ``--json``), handed to commands as ``ctx.obj``."""

    __slots__ = ("api_url", "json")

    def __init__(self, api_url: str = DEFAULT_URL, json: bool = False) -> None:
        self.api_url = api_url.rstrip("/")
        self.json = json

    def __repr__(self) -> str:
        return f"State(api_url={self.api_url!r}, json={self.json})"


def collector_url(api_url: str, port: Optional[int] = None) -> str:
    """The collector next to the API: ``http://<API host>:<port>``."""
    host = urlsplit(api_url if "://" in api_url else f"//{api_url}").hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port or DEFAULT_OTLP_PORT}"


def fail(message: str) -> NoReturn:
    """Print an error on stderr and exit 1 (typer's way: the span records the exit code)."""
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(1)


def call(client: Any, method: str, path: str, *, attempts: int = 1, **kwargs: Any) -> Any:
    """One API call on an ``httpx`` client, retried on 5xx and connection errors; the JSON body.

    4xx answers and exhausted retries end the command (``fail``).
    """
    import httpx

    problem = ""
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            problem = f"cannot reach the API at {client.base_url} ({type(exc).__name__})"
        else:
            if response.status_code < 500:
                if response.is_error:
                    fail(f"{method} {path}: {response.status_code} {response.json().get('detail', '')}")
                return response.json()
            problem = f"{method} {path}: {response.status_code} {response.reason_phrase}"
        if attempt < attempts:
            time.sleep(RETRY_BACKOFF * 2 ** (attempt - 1))
    fail(f"{problem} (after {attempts} attempt{'s' if attempts > 1 else ''})")


def request(state: State, method: str, path: str, *, attempts: int = 1, **kwargs: Any) -> Any:
    """``call`` on a short-lived client for the API in ``state``."""
    import httpx

    with httpx.Client(base_url=state.api_url, timeout=TIMEOUT) as client:
        return call(client, method, path, attempts=attempts, **kwargs)


def show(state: State, payload: Any, text: str) -> None:
    """Print ``text``, or ``payload`` as JSON under ``--json``."""
    if state.json:
        import json

        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        typer.echo(text)
