"""The public surface is exactly what DESIGN.md names, and every public name is documented."""

from __future__ import annotations

import lazyotel
import lazyotel.testing

PUBLIC = {
    "__version__",
    "bootstrap",
    "flush",
    "get_tracer",
    "mode",
    "reconfigure",
    "shutdown",
    "trace_app",
    "trace_command",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(lazyotel.__all__) == PUBLIC
    assert lazyotel.__all__ == sorted(lazyotel.__all__)


def test_every_public_name_exists_and_callables_have_docstrings() -> None:
    for name in lazyotel.__all__:
        value = getattr(lazyotel, name)
        if callable(value):
            assert value.__doc__, name


def test_testing_exports() -> None:
    for name in lazyotel.testing.__all__:
        assert getattr(lazyotel.testing, name).__doc__, name
