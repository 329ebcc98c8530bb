"""The one-way house: every import between lazyotel's modules points down (or sideways, without a circle).

The floors are drawn in ``lazyotel/__init__.py``'s docstring. Function-level imports count, and so
do ``sys.modules["lazyotel.x"]`` lookups: an arrow the import graph cannot see is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lazyotel"

FACE, TESTS, COMMANDS, HUB, PIPELINES, LEAVES = 6, 5, 4, 3, 2, 1

#: Module -> floor. A new module gets a row here: a floor below everything it imports.
FLOORS = {
    "lazyotel": FACE,
    "lazyotel.__main__": FACE,
    "lazyotel.pytest_plugin": FACE,
    "lazyotel.testing": TESTS,
    "lazyotel._app": COMMANDS,
    "lazyotel._decorator": COMMANDS,
    "lazyotel._command": COMMANDS,
    "lazyotel._tracer": COMMANDS,
    "lazyotel._capture": COMMANDS,
    "lazyotel._outcome": COMMANDS,
    "lazyotel._values": COMMANDS,
    "lazyotel._provider": HUB,
    "lazyotel._record": PIPELINES,
    "lazyotel._sdk": PIPELINES,
    "lazyotel._exporters": PIPELINES,
    "lazyotel._follow": PIPELINES,
    "lazyotel._instrument": PIPELINES,
    "lazyotel._globals": PIPELINES,
    "lazyotel._envcontext": PIPELINES,
    "lazyotel._noop": PIPELINES,
    "lazyotel._recorder": PIPELINES,
    "lazyotel._handoff": PIPELINES,
    "lazyotel._ship": PIPELINES,
    "lazyotel._spool": PIPELINES,
    "lazyotel._otlpjson": PIPELINES,
    "lazyotel._recorder_setup": PIPELINES,
    "lazyotel._lite": PIPELINES,
    "lazyotel._hook": LEAVES,
    "lazyotel._jsonenc": LEAVES,
    "lazyotel._httpx": PIPELINES,
    "lazyotel._config": LEAVES,
    "lazyotel._redact": LEAVES,
    "lazyotel._state": LEAVES,
    "lazyotel._log": LEAVES,
    "lazyotel._bounded": LEAVES,
    "lazyotel._endpoint": LEAVES,
    "lazyotel._doctor": LEAVES,
    "lazyotel._receiver": LEAVES,
    "lazyotel._tree": LEAVES,
    "lazyotel._version": LEAVES,
    "lazyotel._w3c": LEAVES,
}

NAMES = {FACE: "face", TESTS: "tools for users' tests", COMMANDS: "command spans", HUB: "the hub"}
NAMES.update({PIPELINES: "pipelines", LEAVES: "leaves"})


def _module_name(path: Path) -> str:
    return "lazyotel" if path.stem == "__init__" else f"lazyotel.{path.stem}"


def _is_sys_modules(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "modules"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every lazyotel module ``path`` reaches: imports at any level and ``sys.modules`` lookups."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = "lazyotel" + (f".{node.module}" if node.module else "")
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Subscript) and _is_sys_modules(node.value):
            names = [_string(node.slice) or ""]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _is_sys_modules(node.func.value)
            and node.args
        ):
            names = [_string(node.args[0]) or ""]
        elif isinstance(node, ast.Compare) and any(_is_sys_modules(c) for c in node.comparators):
            names = [_string(node.left) or ""]
        found.update(name for name in names if name in known)
    found.discard(_module_name(path))
    if _module_name(path) != "lazyotel":
        found.discard("lazyotel")  # ``from lazyotel import x`` of a submodule counts as x
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.glob("*.py"))
    known = {_module_name(path) for path in paths}
    return {_module_name(path): imports_of(path, known) for path in paths}


def test_every_module_has_a_floor() -> None:
    missing = sorted(set(import_graph()) - set(FLOORS))
    assert not missing, (
        f"{missing}: add each to FLOORS in tests/test_house.py, on a floor below every lazyotel module it "
        "imports (and to the floor map in lazyotel/__init__.py's docstring)"
    )


def test_no_arrow_points_up() -> None:
    up = [
        f"{importer} ({NAMES[FLOORS[importer]]}) imports {imported} ({NAMES[FLOORS[imported]]})"
        for importer, imported_set in import_graph().items()
        for imported in sorted(imported_set)
        if importer in FLOORS and imported in FLOORS and FLOORS[imported] > FLOORS[importer]
    ]
    assert not up, "arrows pointing up:\n" + "\n".join(up)


def test_no_circle() -> None:
    graph = import_graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_collector_sees_every_kind_of_arrow(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "import sys\n"
        "from . import _a\n"
        "from ._b import x\n"
        "def f():\n"
        "    import lazyotel._c\n"
        "    from lazyotel import _d\n"
        "    sys.modules['lazyotel._e'].reset()\n"
        "    sys.modules.get('lazyotel._f')\n"
        "    return 'lazyotel._g' in sys.modules\n",
        encoding="utf-8",
    )
    known = {f"lazyotel._{c}" for c in "abcdefgh"}
    assert imports_of(source, known) == known - {"lazyotel._h"}


def test_the_floor_map_in_the_package_docstring_names_every_floor() -> None:
    import lazyotel

    doc = lazyotel.__doc__ or ""
    for name in ("face", "tools for users' tests", "command spans", "the hub", "pipelines", "leaves"):
        assert name in doc.lower(), name


def test_testing_goes_through_the_hub() -> None:
    """``lazyotel.testing`` owns no state: it calls the hub, and re-exports the doctor's and the
    receiver's tools; no STATE, RUNTIME or SDK of its own."""
    assert import_graph()["lazyotel.testing"] <= {
        "lazyotel._provider",
        "lazyotel._doctor",
        "lazyotel._receiver",
    }


def test_pipelines_never_import_the_hub_or_anything_above() -> None:
    graph = import_graph()
    for module, floor in FLOORS.items():
        if floor == PIPELINES:
            assert all(FLOORS.get(imported, LEAVES) <= PIPELINES for imported in graph.get(module, ())), (
                module
            )
