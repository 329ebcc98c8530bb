"""Deferred instrumentation: ``bootstrap(instrument=["httpx"])`` applied when httpx is imported.

Imported at activation (``_sdk``) or by ``lazyotel.testing.capture_spans``. ``arm`` resolves
each name to an ``opentelemetry_instrumentor`` entry point and the module it instruments: one
already imported is instrumented at once, any other when the command imports it. For a
contrib instrumentor, a command that never imports httpx never imports httpx, its
instrumentation, wrapt or importlib.metadata.

The post-import hook is ``_hook.Finder`` rather than ``wrapt.when_imported`` (see there).
Instrumentations import wrapt themselves when they are really applied.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from . import _config, _hook, _log
from ._log import describe

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

GROUP = "opentelemetry_instrumentor"
_DIST = "opentelemetry-instrumentation-"  # the contrib naming convention
_EXTRAS = {"httpx": "httpx"}  # names lazyotel has a pip extra for
#: ``module:Class.method`` an instrumentor wraps with wrapt, by name. pytest-httpx's
#: ``httpx_mock`` restores the method it found when its test ends, dropping a wrapper applied
#: meanwhile: ``arm`` checks these and puts the instrumentation back.
SEATS = {"httpx": ("httpx:HTTPTransport.handle_request", "httpx:AsyncHTTPTransport.handle_async_request")}

_LOCK = threading.Lock()
_generation = 0  # bumped by disarm(): hooks registered before it do nothing
_armed: set[str] = set()  # names arm() handled since the last disarm()
_applied: dict[str, Any] = {}  # name -> instrumentor lazyotel applied (None: being applied)
_watch: dict[str, list[tuple[str, int]]] = {}  # module -> [(name, generation)] to apply on import
_ours: list[weakref.ref[Any]] = []  # the wrappers our instrumentations installed
_finder: _hook.Finder | None = None
_light: Callable[[str], Any] | None = None  # arm(light=...): lazyotel's own instrumentors


def arm(names: Iterable[str], light: Callable[[str], Any] | None = None) -> None:
    """Instrument the named libraries now if imported, else once they are imported.

    ``light(name)``: lazyotel's own instrumentor for ``name`` (an object with the contrib
    instrumentors' ``instrument``, ``uninstrument`` and ``is_instrumented_by_opentelemetry``)
    or None; asked first when a library is instrumented. Idempotent and thread-safe; never
    raises (a problem is at most one warning).
    """
    global _light
    _light = light
    try:
        _arm(tuple(dict.fromkeys(names)))
    except Exception as exc:  # noqa: BLE001 - contract: telemetry never breaks the command
        _log.warn_once("could not set instrumentation up (%s)", describe(exc))


def _arm(names: tuple[str, ...]) -> None:
    with _LOCK:
        generation, new = _generation, [name for name in names if name not in _armed]
        _armed.update(new)
        applied = [name for name in names if _applied.get(name) is not None]
    for name in applied:
        _reseat(name)
    missing = [name for name in new if not _arm_one(name, generation)]
    if missing:
        hints = [
            f"pip install 'lazyotel[{_EXTRAS[n]}]'" if n in _EXTRAS else f"pip install {_DIST}{n}"
            for n in missing
        ]
        _log.warn_once(
            "instrument=%r: no OpenTelemetry instrumentor is installed for %s; install it with: %s",
            list(names),
            ", ".join(map(repr, missing)),
            "; ".join(hints),
        )


def _arm_one(name: str, generation: int) -> bool:
    """Watch (or instrument) one name; False if no instrumentor is installed for it."""
    try:
        module = _module_named(name)
        modules: list[str] | None = [module] if module else None
        if module is None or not _config.contrib_instrumentor_installed(module):
            found = _entry_point(name)
            if found is None:
                return False
            modules = modules or _instrumented_modules(found[1])
        if modules is None:  # which module is unknown: instrument now, as opentelemetry-instrument does
            _apply(name, generation)
        elif not modules:
            _log.debug("no library instrumented by %r is installed; skipped", name)
        for mod in modules or ():
            _when_imported(mod, name, generation)
    except Exception as exc:  # noqa: BLE001 - one broken name must not cost the others
        _log.warn_once("could not set up instrumentation %r (%s)", name, describe(exc))
    return True


def disarm() -> None:
    """Uninstrument what lazyotel instrumented and forget the hooks that have not fired."""
    global _generation, _finder
    with _LOCK:
        _generation += 1
        applied = [(name, inst) for name, inst in _applied.items() if inst is not None]
        _applied.clear()
        _armed.clear()
        _watch.clear()
        finder, _finder = _finder, None
    if finder is not None:
        finder.remove()
    for name, instrumentor in applied:
        _uninstrument(name, instrumentor)


def _uninstrument(name: str, instrumentor: Any) -> None:
    try:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    except Exception as exc:  # noqa: BLE001
        _log.debug("uninstrumenting %r failed: %s", name, describe(exc))


# -- applying -------------------------------------------------------------------------------------


def _apply(name: str, generation: int) -> None:
    """Instrument ``name`` (at arm, or from the import hook). Never raises."""
    with _LOCK:
        if generation != _generation or name in _applied:
            return
        _applied[name] = None  # claimed
    instrumentor = None
    try:
        light = _light
        candidate: Any = light(name) if light is not None else None
        if candidate is None:
            found = _entry_point(name)
            candidate = None if found is None else found[0].load()()
        if candidate is not None:
            _strip_orphans(name)  # ours, put back by a test double after reset(): not someone else's
        if candidate is None:
            _log.warn_once("no OpenTelemetry instrumentor is installed for %r", name)
        elif candidate.is_instrumented_by_opentelemetry:
            _log.debug("%r is instrumented already, not by lazyotel; leaving it", name)
        else:
            candidate.instrument()
            if candidate.is_instrumented_by_opentelemetry:
                instrumentor = candidate
                _remember(name)
    except Exception as exc:  # noqa: BLE001 - a failing hook must never break the user's import
        _log.warn_once("could not instrument %r (%s); the command is not affected", name, describe(exc))
    with _LOCK:
        current = generation == _generation
        if current and instrumentor is not None:
            _applied[name] = instrumentor
        elif current:
            _applied.pop(name, None)
    if not current and instrumentor is not None:  # disarmed meanwhile: undo
        _uninstrument(name, instrumentor)


def _seats(name: str) -> list[tuple[Any, str, Any]]:
    """``(class, method name, value)`` for each method the instrumentor of ``name`` wraps."""
    out = []
    for seat in SEATS.get(name, ()):
        module, _, path = seat.partition(":")
        owner_name, _, attr = path.partition(".")
        owner = getattr(sys.modules.get(module), owner_name, None)
        if owner is not None:
            out.append((owner, attr, vars(owner).get(attr)))
    return out


def _is_wrapper(value: object) -> bool:
    light: Any = sys.modules.get("lazyotel._httpx")
    if light is not None and light.tracing_of(value) is not None:  # _httpx's own wrappers
        return True
    wrapt = sys.modules.get("wrapt")
    proxy = getattr(wrapt, "BaseObjectProxy", None) or getattr(wrapt, "ObjectProxy", None)  # 2.x / 1.x
    return proxy is not None and isinstance(value, proxy)


def _remember(name: str) -> None:
    _ours[:] = [ref for ref in _ours if ref() is not None]
    _ours.extend(weakref.ref(value) for _, _, value in _seats(name) if _is_wrapper(value))


def _strip_orphans(name: str) -> None:
    """Unwrap wrappers of ours that outlived their instrumentation.

    A monkeypatch undone after lazyotel uninstrumented puts back the wrapper it had found;
    instrumenting on top of it would trace every request twice.
    """
    for owner, attr, value in _seats(name):
        while any(ref() is value for ref in _ours):
            value = value.__wrapped__  # noqa: PLW2901
            setattr(owner, attr, value)


def _reseat(name: str) -> None:
    """Instrument ``name`` again if one of its wrappers was replaced by a plain function."""
    try:
        if all(_is_wrapper(value) for _, _, value in _seats(name)):
            return
        _log.debug("the %r instrumentation was replaced; applying it again", name)
        instrumentor = _applied[name]
        instrumentor.uninstrument()  # unwraps only the wrappers still in place
        _strip_orphans(name)
        instrumentor.instrument()
        _remember(name)
    except Exception as exc:  # noqa: BLE001
        _log.debug("re-instrumenting %r failed: %s", name, describe(exc))


# -- the post-import hook -------------------------------------------------------------------------


def _when_imported(module: str, name: str, generation: int) -> None:
    global _finder
    with _LOCK:
        if _finder is None:
            _finder = _hook.Finder(_watch.__contains__, _fire)
            _finder.install()
        _watch.setdefault(module, []).append((name, generation))
    if module in sys.modules:  # checked after registering: an import in another thread is not missed
        _fire(module)


def _fire(module: str) -> None:
    with _LOCK:
        pending = _watch.pop(module, [])
    for name, generation in pending:
        _apply(name, generation)


# -- resolving names ------------------------------------------------------------------------------


def _module_named(name: str) -> str | None:
    """The top-level module spelled like the entry point, if there is one (imports nothing)."""
    module = name.replace("-", "_")
    if module in sys.modules or not module.isidentifier():
        return module if module in sys.modules else None
    from importlib.util import find_spec

    try:
        return module if find_spec(module) is not None else None
    except (ImportError, ValueError):
        return None


def _entry_point(name: str) -> tuple[Any, Any] | None:
    """``(entry point, distribution)`` for ``name``, the conventional distribution first."""
    import itertools
    from importlib import metadata

    try:
        first = [metadata.distribution(_DIST + name)]
    except metadata.PackageNotFoundError:
        first = []
    for dist in itertools.chain(first, metadata.distributions()):
        for ep in dist.entry_points:
            if ep.group == GROUP and ep.name == name:
                return ep, dist
    return None


def _instrumented_modules(dist: Any) -> list[str] | None:
    """Top-level modules of the installed libraries an instrumentor declares it instruments.

    None if it declares none (``extra == "instruments"`` requirements); [] if none is installed.
    """
    from importlib import metadata

    modules: list[str] | None = None
    for requirement in dist.requires or ():
        library, _, marker = requirement.partition(";")
        if "instruments" not in marker:
            continue
        modules = modules or []
        for stop in "<>=!~[( ":
            library = library.partition(stop)[0]
        try:
            files = metadata.distribution(library.strip()).files or ()
        except metadata.PackageNotFoundError:
            continue
        for file in files:
            top = file.parts[0] if len(file.parts) > 1 else file.name.partition(".")[0]
            if len(file.parts) == 1 and file.suffix not in (".py", ".so"):
                continue
            if top.isidentifier() and top != "__pycache__" and top not in modules:
                modules.append(top)
    return modules
