"""Running a Python program in a fresh interpreter and reading what it did (core tests).

``run_child(code, env)`` prepends a prelude that configures logging as a CLI user would see
it (one ``LOG <LEVEL> <logger>: <message>`` line per record, on stderr) and defines
``stamp()``, which writes ``EXIT-STAMP <time>`` to stderr: the time from the stamp to the
end of the process is the exit delay the tests bound.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


#: A spool that cannot be created (its parent is not a directory): see tests/conftest.py.
NO_SPOOL = os.path.join(os.devnull, "lazyotel-spool")


def child_env(drop: tuple[str, ...] = ("PYTEST_", "OTEL_", "LAZYOTEL_"), **extra: str) -> dict[str, str]:
    """The environment for a child Python: no variable that starts with one of ``drop`` (pytest's
    markers, so it is not in test mode unless a test says so; the developer's OTEL_* and
    LAZYOTEL_*), bytecode writing on, this checkout first on PYTHONPATH, inline delivery with no
    spool unless ``extra`` says otherwise (hand-off has tests of its own); then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("LAZYOTEL_DELIVERY", "inline")
    env.setdefault("LAZYOTEL_SPOOL_DIR", NO_SPOOL)
    env.update(extra)
    return env


PRELUDE = """\
import logging as _logging, sys as _sys, time as _time
_logging.basicConfig(level=_logging.{level}, stream=_sys.stderr,
                     format="LOG %(levelname)s %(name)s: %(message)s")

def stamp():
    _sys.stderr.write(f"EXIT-STAMP {{_time.time()!r}}\\n")
    _sys.stderr.flush()
"""


class Child:
    """What a child process did."""

    def __init__(self, proc: subprocess.CompletedProcess[str], ended: float) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.ended = ended

    @property
    def log(self) -> list[str]:
        """The log lines, without the ``LOG`` prefix: ``"WARNING lazyotel: ..."``."""
        return [line[4:] for line in self.stderr.splitlines() if line.startswith("LOG ")]

    @property
    def warnings(self) -> list[str]:
        """Log lines at WARNING or above, from any logger."""
        return [line for line in self.log if line.split(" ", 1)[0] in ("WARNING", "ERROR", "CRITICAL")]

    @property
    def other_stderr(self) -> list[str]:
        """Non-empty stderr lines that are neither log records nor the exit stamp."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not line.startswith(("LOG ", "EXIT-STAMP "))
        ]

    @property
    def exit_seconds(self) -> float:
        """Seconds from ``stamp()`` to the end of the process."""
        stamps = [line for line in self.stderr.splitlines() if line.startswith("EXIT-STAMP ")]
        if not stamps:
            msg = f"the child never called stamp(); stderr:\n{self.stderr}"
            raise AssertionError(msg)
        return self.ended - float(stamps[-1].split()[1])

    def __repr__(self) -> str:
        return f"<Child rc={self.returncode} stdout={self.stdout!r} stderr={self.stderr!r}>"


def run_child(
    code: str,
    env: dict[str, str],
    *args: str,
    level: str | None = "WARNING",
    timeout: float = 60.0,
    python_flags: tuple[str, ...] = (),
) -> Child:
    """Run ``code`` (dedented) in a fresh interpreter with ``env``; ``level=None``: no prelude."""
    source = textwrap.dedent(code)
    if level is not None:
        source = PRELUDE.format(level=level) + source
    proc = subprocess.run(
        [PYTHON, *python_flags, "-c", source, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Child(proc, time.time())


def lazyotel_warnings(child: Child) -> list[str]:
    """Check every warning came from the ``lazyotel`` logger; return them."""
    foreign = [line for line in child.warnings if not line.split(" ", 2)[1].startswith("lazyotel:")]
    assert foreign == [], child.stderr
    return child.warnings


def site_without(root: Path, *hidden: str) -> Path:
    """A copy of site-packages made of symlinks, minus the package directories ``hidden``.

    Run a child with ``python -S`` and ``PYTHONPATH=<this>:<repo>`` to simulate a machine
    where, say, ``opentelemetry/exporter/otlp/proto/http`` was never installed.
    """
    site = Path(sysconfig.get_paths()["purelib"])
    hidden_parts = [tuple(h.split("/")) for h in hidden]

    def mirror(src: Path, dst: Path, prefix: tuple[str, ...]) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for entry in src.iterdir():
            path = (*prefix, entry.name)
            if path in hidden_parts:
                continue
            if any(h[: len(path)] == path for h in hidden_parts):
                mirror(entry, dst / entry.name, path)
            else:
                (dst / entry.name).symlink_to(entry)

    mirror(site, root, ())
    return root
