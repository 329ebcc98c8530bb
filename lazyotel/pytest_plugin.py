"""The pytest plugin (entry point ``lazyotel``): one fixture, one marker, one ini option.

pytest loads it in every project that has lazyotel installed, so loading it imports nothing
but lazyotel's light core: no OpenTelemetry, no output, no warning. Under pytest lazyotel is
in test mode already (decorated commands run untraced); this plugin adds the tools a test
uses to ask for spans.

- ``lazyotel_spans``: captures spans in memory for one test, then resets every global.
- ``@pytest.mark.lazyotel(deterministic_ids=True, capture_args=False)``: options for it.
- ``lazyotel_isolate = true`` (ini): reset after every test, fixture or not, keeping the
  configuration the CLI's ``bootstrap()`` recorded.
"""

from __future__ import annotations

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Literal

    from .testing import CapturedSpans

#: The keywords ``@pytest.mark.lazyotel(...)`` accepts.
MARKER_OPTIONS = ("capture_args", "deterministic_ids", "span_prefix")


def pytest_addoption(parser: pytest.Parser) -> None:
    # A typed name, not the literal in the call: mypy >= 1.19 may read a string literal passed
    # where pytest's stubs take a Literal as a type form, and report it.
    kind: Literal["bool"] = "bool"
    parser.addini(
        "lazyotel_isolate",
        type=kind,
        default=False,
        help="lazyotel: reset OpenTelemetry's and lazyotel's globals around every test.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lazyotel(deterministic_ids=False, capture_args=None, span_prefix=None): "
        "options for the lazyotel_spans fixture.",
    )
    if config.getini("lazyotel_isolate"):
        config.pluginmanager.register(_Isolation(), "lazyotel-isolation")


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Closest marker last, so a test's own marker wins over its class's and module's.
    for marker in reversed(list(node.iter_markers("lazyotel"))):
        if marker.args:
            pytest.fail(
                f"@pytest.mark.lazyotel takes keywords only ({', '.join(MARKER_OPTIONS)}), "
                f"got positional {marker.args!r}",
                pytrace=False,
            )
        unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
        if unknown:
            pytest.fail(
                f"@pytest.mark.lazyotel got unknown option {unknown[0]!r}; "
                f"valid options: {', '.join(MARKER_OPTIONS)}",
                pytrace=False,
            )
        options.update(marker.kwargs)
    return options


@pytest.fixture
def lazyotel_spans(request: pytest.FixtureRequest) -> Iterator[CapturedSpans]:
    """Spans of this test, captured in memory; every global is reset afterwards.

    The configuration the CLI's ``bootstrap()`` recorded before the test is kept for the next
    one; whatever the test changed is undone (see ``lazyotel.testing.isolated``).
    """
    from . import _config, testing

    options = _marker_options(request.node)
    overrides = {k: options[k] for k in ("capture_args", "span_prefix") if options.get(k) is not None}
    with testing.isolated():
        if overrides:
            _config.apply(_config.SETTINGS, overrides)
        with testing.capture_spans(deterministic_ids=bool(options.get("deterministic_ids"))) as spans:
            yield spans


class _Isolation:
    """Registered when ``lazyotel_isolate = true``: every test runs inside ``isolated()``."""

    @pytest.fixture(autouse=True)
    def _lazyotel_isolate(self) -> Iterator[None]:
        from . import testing

        with testing.isolated():
            yield
