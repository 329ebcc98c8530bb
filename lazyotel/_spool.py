"""The spool: a per-user directory of span files waiting for the shipper.

Layout (``LAZYOTEL_SPOOL_DIR``, default ``$XDG_STATE_HOME/lazyotel/spool`` or
``~/.local/state/lazyotel/spool``; the directory 0700, files 0600)::

    <ns>-<pid>-<seq>-<random>-<spans>.json   one file per write (see ``_otlpjson``), named so
                                             that names sort oldest first and never collide
    .tmp-*                                   a file being written (renamed when whole)
    rejected/                                files the collector refused for good, or corrupt
    ship.lock                                held (flock) by the one shipper of this spool
    state.json (+ state.lock)                counters: spans dropped, rejected, expired; the
                                             shipper's last error
    ship.log, ship.log.1                     the shipper's small rotating log

Bounded: ``LAZYOTEL_SPOOL_MAX_BYTES`` (default 64 MiB) and ``LAZYOTEL_SPOOL_MAX_AGE``
(seconds, default 7 days); the oldest files go first, and every span they held is counted.

Imports only ``os`` and ``sys`` at module level; ``fcntl``, ``json`` and ``subprocess`` when
needed.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_AGE = 7 * 24 * 3600.0
#: The rejected/ directory keeps at most this many files (the newest), for a look.
MAX_REJECTED_FILES = 100
#: A temporary file older than this was left by a crash mid-write.
STALE_TEMP_SECONDS = 3600.0

LOCK_NAME = "ship.lock"
STATE_NAME = "state.json"
STATE_LOCK_NAME = "state.lock"
LOG_NAME = "ship.log"
REJECTED = "rejected"
SUFFIX = ".json"
COUNTERS = ("dropped", "rejected", "expired")

_seq = 0


class SpoolFile:
    """One spool file, described by its name (no need to read it)."""

    __slots__ = ("created_ns", "name", "path", "size", "spans")

    def __init__(self, directory: str, name: str, created_ns: int, spans: int, size: int) -> None:
        self.name = name
        self.path = os.path.join(directory, name)
        self.created_ns = created_ns
        self.spans = spans
        self.size = size


def default_dir() -> str:
    """``LAZYOTEL_SPOOL_DIR``, else ``$XDG_STATE_HOME/lazyotel/spool``, else ``~/.local/state/...``."""
    explicit = os.environ.get("LAZYOTEL_SPOOL_DIR", "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    if not state or not os.path.isabs(state):  # the XDG spec: a relative value is ignored
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "lazyotel", "spool")


def supported() -> bool:
    """Hand-off needs ``fcntl.flock`` (one shipper per spool) and an interpreter to start."""
    if getattr(sys, "frozen", False) or not sys.executable:
        return False
    try:
        import fcntl  # noqa: F401
    except ImportError:  # Windows
        return False
    return True


def ensure(directory: str) -> str:
    """Create the spool (0700) if needed and check it is ours and writable; return it.

    Raises:
        OSError: It cannot be created, belongs to another user, or is not writable.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    info = os.stat(directory)
    getuid = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        msg = f"the spool directory {directory} belongs to another user"
        raise PermissionError(msg)
    if info.st_mode & 0o077:
        os.chmod(directory, 0o700)  # others must not read spans (they may hold arguments)
    if not os.access(directory, os.W_OK | os.X_OK):
        msg = f"the spool directory {directory} is not writable"
        raise PermissionError(msg)
    return directory


def creatable(directory: str) -> bool:
    """Whether ``ensure(directory)`` would likely succeed, creating nothing (a few ``stat``)."""
    path = directory
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _int_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def max_bytes() -> float:
    return _int_env("LAZYOTEL_SPOOL_MAX_BYTES", DEFAULT_MAX_BYTES)


def max_age() -> float:
    return _int_env("LAZYOTEL_SPOOL_MAX_AGE", DEFAULT_MAX_AGE)


# -- writing ---------------------------------------------------------------------------------


def write(directory: str, data: bytes, spans: int) -> str:
    """Write one spool file atomically (temporary name, fsync-free rename); return its path.

    The name sorts by creation time and is unique across processes and threads (pid, a
    counter, random bytes).
    """
    global _seq
    import time

    _seq += 1
    stamp = time.time_ns()
    name = f"{stamp:020d}-{os.getpid()}-{_seq}-{os.urandom(4).hex()}-{spans}{SUFFIX}"
    temp = os.path.join(directory, f".tmp-{name}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except BaseException:
        os.close(fd)
        _unlink(temp)
        raise
    os.close(fd)
    final = os.path.join(directory, name)
    try:
        os.rename(temp, final)
    except BaseException:
        _unlink(temp)
        raise
    return final


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True


def _parse(name: str) -> tuple[int, int] | None:
    """(created ns, spans) from a spool file's name; None if it is not one."""
    if not name.endswith(SUFFIX) or name.startswith("."):
        return None
    parts = name[: -len(SUFFIX)].split("-")
    if len(parts) != 5 or not parts[0].isdigit() or not parts[4].isdigit():
        return None
    return int(parts[0]), int(parts[4])


def files(directory: str) -> list[SpoolFile]:
    """The spool's files, oldest first (by name: creation time, then pid and counter)."""
    out = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in sorted(names):
        parsed = _parse(name)
        if parsed is None:
            continue
        try:
            size = os.stat(os.path.join(directory, name)).st_size
        except OSError:  # shipped (deleted) meanwhile
            continue
        out.append(SpoolFile(directory, name, parsed[0], parsed[1], size))
    return out


def enforce_caps(directory: str, now_ns: int | None = None) -> dict[str, int]:
    """Drop the oldest files past the size cap and those past the age cap; count their spans.

    Returns the spans dropped and expired (also added to the state's counters).
    """
    import time

    now = time.time_ns() if now_ns is None else now_ns
    limit_age = max_age() * 1e9
    limit_size = max_bytes()
    found = files(directory)
    counts = {"dropped": 0, "expired": 0}
    total = sum(f.size for f in found)
    for spool_file in found:
        # A file "from the future" (the clock jumped back) is young: never expired by a jump.
        expired = now - spool_file.created_ns > limit_age
        if not expired and total <= limit_size:
            continue
        if _unlink(spool_file.path):
            counts["expired" if expired else "dropped"] += spool_file.spans
        total -= spool_file.size
    if counts["dropped"] or counts["expired"]:
        add_counts(directory, counts)
    # Leftovers of a crash mid-write.
    try:
        for name in os.listdir(directory):
            if name.startswith(".tmp-"):
                path = os.path.join(directory, name)
                try:
                    if time.time() - os.stat(path).st_mtime > STALE_TEMP_SECONDS:
                        _unlink(path)
                except OSError:
                    pass
    except OSError:
        pass
    return counts


# -- state: counters and the last error ----------------------------------------------------


class _Locked:
    """A blocking flock on ``path`` (short critical sections only)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _Locked:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)  # closing releases the lock


def read_state(directory: str) -> dict[str, Any]:
    from ._jsonenc import decoder  # not ``json``: a traced command reads this at each write

    try:
        with open(os.path.join(directory, STATE_NAME), "rb") as handle:
            state = decoder()(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        state = {}
    return state if isinstance(state, dict) else {}


def _write_state(directory: str, state: Mapping[str, Any]) -> None:
    write_json_atomically(os.path.join(directory, STATE_NAME), state)


def write_json_atomically(path: str, value: Mapping[str, Any]) -> None:
    from ._jsonenc import encoder

    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(encoder()(value))
    os.replace(temp, path)


def update_state(directory: str, change: Any) -> dict[str, Any]:
    """Read, change (``change(state)`` mutates it) and write the state under its lock."""
    with _Locked(os.path.join(directory, STATE_LOCK_NAME)):
        state = read_state(directory)
        change(state)
        _write_state(directory, state)
        return state


def add_counts(directory: str, counts: Mapping[str, int]) -> None:
    def change(state: dict[str, Any]) -> None:
        for name, count in counts.items():
            state[name] = int(state.get(name, 0) or 0) + count

    update_state(directory, change)


def take_unreported(directory: str) -> dict[str, int]:
    """The counts not reported yet, now marked reported (a run warns about them once)."""
    state = read_state(directory)  # without the lock first: usually nothing is new
    reported = state.get("reported") or {}
    if not any(int(state.get(n, 0) or 0) > int(reported.get(n, 0) or 0) for n in COUNTERS):
        return {}
    taken: dict[str, int] = {}

    def change(state: dict[str, Any]) -> None:
        reported = state.setdefault("reported", {})
        for name in COUNTERS:
            new = int(state.get(name, 0) or 0) - int(reported.get(name, 0) or 0)
            if new > 0:
                taken[name] = new
                reported[name] = int(state.get(name, 0) or 0)

    update_state(directory, change)
    return taken


# -- the shipper's lock and start -----------------------------------------------------------


def try_lock(directory: str) -> int | None:
    """The shipper lock's fd if this process got it (non-blocking), else None."""
    import fcntl

    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def shipper_running(directory: str) -> bool:
    fd = try_lock(directory)
    if fd is None:
        return True
    os.close(fd)
    return False


def package_root() -> str:
    """The directory that holds the ``lazyotel`` package (for the shipper's ``PYTHONPATH``)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shipper_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The command's environment, plus what the shipper needs (never written to disk)."""
    env = dict(os.environ)
    root = package_root()
    paths = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    # The shipper is never traced itself (an auto-instrumented interpreter would trace its
    # own exports, forever).
    env["OTEL_SDK_DISABLED"] = "true"
    env["LAZYOTEL_MODE"] = "off"
    env.update(extra or {})
    return env


#: The shipper's entry: ``-c`` rather than ``-m`` so that it can leave the command's working
#: directory (which could hold another ``lazyotel``) before importing anything.
_BOOT = (
    "import os, sys; os.chdir(sys.argv[3]); from lazyotel.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def start_shipper(directory: str, extra_env: Mapping[str, str] | None = None) -> int | None:
    """Start a detached shipper for ``directory`` if none runs; never waits for it.

    A new session (no terminal, so no Ctrl-C), stdin/stdout/stderr on /dev/null, the command's
    environment plus what it needs. ``os.posix_spawn`` where there is one: the command need
    not import ``subprocess`` at exit.

    Returns the shipper's pid if one was started, else None.
    """
    if shipper_running(directory):
        return None
    argv = [sys.executable, "-c", _BOOT, "ship", "--spool", directory]
    env = shipper_env(extra_env)
    spawn = getattr(os, "posix_spawn", None)
    if spawn is None:  # pragma: no cover - every platform with flock has posix_spawn
        import subprocess

        devnull = subprocess.DEVNULL
        proc = subprocess.Popen(
            argv, stdin=devnull, stdout=devnull, stderr=devnull, start_new_session=True, env=env
        )
        return proc.pid
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
        pid: int = spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
    finally:
        os.close(null)
    return pid  # never waited for: it outlives the command; the exit does not wait


def running(pid: int) -> bool:
    """Whether a shipper this process started still runs (reaps it if it ended)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:  # reaped already, or not our child (after a fork)
        return False


# -- looking and clearing ----------------------------------------------------------------------


def destination(path: str) -> str | None:
    """``protocol endpoint`` from a file's envelope (its first bytes), without parsing it all."""
    import json

    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    start = head.find('"destination":')
    end = head.find("}", start)
    if start < 0 or end < 0:
        return None
    try:
        value = json.loads(head[start + len('"destination":') : end + 1])
    except ValueError:
        return None
    return f"{value.get('endpoint')} ({value.get('protocol')})"


def status(directory: str) -> dict[str, Any]:
    """The spool's state, for ``python -m lazyotel spool``."""
    found = files(directory) if os.path.isdir(directory) else []
    state = read_state(directory) if found or os.path.isdir(directory) else {}
    destinations: dict[str, int] = {}
    for spool_file in found:
        where = destination(spool_file.path) or "unknown"
        destinations[where] = destinations.get(where, 0) + spool_file.spans
    rejected_dir = os.path.join(directory, REJECTED)
    try:
        rejected_files = len([n for n in os.listdir(rejected_dir) if not n.startswith(".")])
    except OSError:
        rejected_files = 0
    oldest = found[0].created_ns if found else None
    return {
        "spool": directory,
        "exists": os.path.isdir(directory),
        "files": len(found),
        "spans": sum(f.spans for f in found),
        "bytes": sum(f.size for f in found),
        "oldest_ns": oldest,
        "destinations": destinations,
        "shipper_running": os.path.isdir(directory) and shipper_running(directory),
        "dropped": int(state.get("dropped", 0) or 0),
        "rejected": int(state.get("rejected", 0) or 0),
        "expired": int(state.get("expired", 0) or 0),
        "rejected_files": rejected_files,
        "last_error": state.get("last_error"),
        "last_error_ns": state.get("last_error_ns"),
        "max_bytes": int(max_bytes()),
        "max_age_seconds": max_age(),
    }


def clear(directory: str) -> int:
    """Delete every spool file, the rejected ones, and reset the counters; return files deleted."""
    deleted = 0
    for spool_file in files(directory):
        deleted += _unlink(spool_file.path)
    rejected_dir = os.path.join(directory, REJECTED)
    try:
        for name in os.listdir(rejected_dir):
            deleted += _unlink(os.path.join(rejected_dir, name))
    except OSError:
        pass
    if os.path.isdir(directory):
        update_state(directory, lambda state: state.clear())
    return deleted


def reject(spool_file: SpoolFile, count: int) -> None:
    """Set a file aside in rejected/ (keeping only the newest ones) and count its spans."""
    directory = os.path.dirname(spool_file.path)
    rejected_dir = os.path.join(directory, REJECTED)
    try:
        os.makedirs(rejected_dir, mode=0o700, exist_ok=True)
        os.rename(spool_file.path, os.path.join(rejected_dir, spool_file.name))
        kept = sorted(os.listdir(rejected_dir))
        for name in kept[: max(len(kept) - MAX_REJECTED_FILES, 0)]:
            _unlink(os.path.join(rejected_dir, name))
    except OSError:
        _unlink(spool_file.path)
    add_counts(directory, {"rejected": count})
