"""The public surface is exactly what DESIGN.md names, and every public name is documented."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
TESTING_PUBLIC = {
    "CapturedSpans",
    "ImportReport",
    "OTLPReceiver",
    "ReceivedEvent",
    "ReceivedExport",
    "ReceivedSpan",
    "assert_no_imports",
    "capture_spans",
    "check_imports",
    "enabled",
    "isolated",
    "reset",
}
#: Served on first lookup (module ``__getattr__``), so absent from a fresh ``vars()``.
LAZY = {
    "lazyotel": {"__version__", "trace_app"},
    "lazyotel.testing": {"OTLPReceiver", "ReceivedEvent", "ReceivedExport", "ReceivedSpan"},
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(lazyotel.__all__) == PUBLIC
    assert lazyotel.__all__ == sorted(lazyotel.__all__)
    assert set(lazyotel.testing.__all__) == TESTING_PUBLIC
    assert lazyotel.testing.__all__ == sorted(lazyotel.testing.__all__)


_FRESH_VARS = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
public = sorted(n for n in vars(module) if not n.startswith("_"))
print(json.dumps({"public": public, "all": module.__all__, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("module", ["lazyotel", "lazyotel.testing"])
def test_a_fresh_import_binds_exactly_the_names_in_all(module: str) -> None:
    """No helper (``TYPE_CHECKING``, ``annotations``, ``sys``, ``STATE``...) leaks as a public name."""
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_VARS, module], capture_output=True, text=True, check=True
    ).stdout
    found = json.loads(out)
    expected = {n for n in found["all"] if not n.startswith("__")} - LAZY[module]
    assert set(found["public"]) == expected
    assert "lazyotel._receiver" not in found["modules"]  # the receiver costs nothing until asked for


def test_every_public_name_exists_and_callables_have_docstrings() -> None:
    for module in (lazyotel, lazyotel.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value):
                assert value.__doc__, name


@pytest.mark.parametrize(
    ("module", "name"),
    [(lazyotel, n) for n in sorted(PUBLIC - {"__version__"})]
    + [(lazyotel.testing, n) for n in sorted(TESTING_PUBLIC)],
)
def test_public_objects_report_the_public_module(module: object, name: str) -> None:
    """As httpx does: ``lazyotel.trace_command.__module__ == "lazyotel"``, not the private one."""
    assert getattr(module, name).__module__ == module.__name__  # type: ignore[attr-defined]


def test_the_version_has_one_source_and_is_served_lazily() -> None:
    from importlib.metadata import version

    from lazyotel import _version

    assert lazyotel.__version__ == _version.__version__ == version("lazyotel")
    code = "import sys, lazyotel; print('lazyotel._version' in sys.modules, '__version__' in vars(lazyotel))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]  # served on first use, not at import
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert re.search(r"^version\s*=", pyproject, re.MULTILINE) is None  # not written twice
    assert 'path = "lazyotel/_version.py"' in pyproject


def test_unknown_attributes_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lazyotel.nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lazyotel.testing.nope  # type: ignore[attr-defined]
