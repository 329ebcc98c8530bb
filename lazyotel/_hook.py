"""A post-import hook: a ``sys.meta_path`` finder that runs a callback once a watched module is loaded.

Rather than ``wrapt.when_imported``: importing wrapt 2.x imports asyncio and
importlib.metadata, a cost (benchmarks/README.md) paid by every command that never imports
the library. Used by ``_instrument`` (deferred instrumentation) and ``_record`` (promotion to
the OpenTelemetry API when user code imports it).

A leaf: imports only ``sys`` (and ``atexit`` when a finder is installed).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any


class Finder:
    """Put first on ``sys.meta_path``: gives a watched module a loader that calls ``fire(name)``
    after the module has run.

    Args:
        watched: whether a module name is watched (read on every import: keep it cheap).
        fire: called with the module's name once it is loaded.
    """

    def __init__(self, watched: Callable[[str], bool], fire: Callable[[str], object]) -> None:
        self._watched = watched
        self._fire = fire

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: Any = None
    ) -> ModuleSpec | None:
        if not self._watched(fullname):  # first: every import of the run passes here
            return None
        finders = list(sys.meta_path)
        if self not in finders:
            return None
        for finder in finders[finders.index(self) + 1 :]:  # the rest of the import system
            if hasattr(finder, "find_spec"):
                spec: ModuleSpec | None = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader, fullname, self._fire)  # type: ignore[assignment]
                    return spec
        return None

    def install(self) -> None:
        """First on ``sys.meta_path``, until ``remove()`` or the interpreter's exit.

        Left there, a finder keeps the modules its callbacks reach alive into the interpreter's
        teardown, which then clears them one by one: about 3.6 million instructions more per
        run (callgrind, a typer app), more than the rest of a traced command's recording. The
        command's code has run by the time ``atexit`` calls ``remove``.
        """
        import atexit

        sys.meta_path.insert(0, self)
        atexit.register(self._remove_at_exit)

    def _remove_at_exit(self) -> None:
        # In place: rebinding ``sys.meta_path`` this late costs the teardown as much as leaving
        # the finder there (callgrind); the command's imports are over.
        while self in sys.meta_path:
            sys.meta_path.remove(self)

    def remove(self) -> None:
        # Rebind, never remove in place: an import running in another thread iterates the old
        # list, and removing an item from it would make that import skip the next finder.
        sys.meta_path = [f for f in sys.meta_path if f is not self]


class _Loader:
    """The real loader, then the hook. Hands the real loader back to the module first."""

    def __init__(self, loader: Any, module: str, fire: Callable[[str], object]) -> None:
        self._loader, self._module, self._fire = loader, module, fire

    def exec_module(self, module: ModuleType) -> None:
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        if getattr(module.__spec__, "loader", None) is self:
            module.__spec__.loader = self._loader  # type: ignore[union-attr]
        self._loader.exec_module(module)
        self._fire(self._module)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)
