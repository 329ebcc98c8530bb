"""Shared helpers for the benchmarks: fresh interpreters, interleaved rounds, medians, a table.

Every figure compares variants measured side by side in one run: each round runs every variant
once, in a rotated order, so a burst of load on the machine hits all of them alike; the
figures are medians of the rounds. Children run with bytecode writing allowed
(``PYTHONDONTWRITEBYTECODE`` removed) and after one warm-up run each, so ``.pyc`` files are
warm and nobody pays for compiling.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child: no OTEL_*/LAZYOTEL_*/PYTEST_* from the caller, pyc writing on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAZYOTEL_", "PYTEST_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


class Variant:
    """One command to time: ``argv`` run with ``env``; ``check`` validates a run (or raises)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        check: Any = None,
        timeout: float = 120.0,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env if env is not None else clean_env())
        self.check = check
        self.timeout = timeout


class Run:
    """One finished run: wall seconds from spawn to exit, and its output."""

    def __init__(self, seconds: float, proc: subprocess.CompletedProcess[str], ended: float) -> None:
        self.seconds = seconds
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.ended = ended  # time.time() at exit, to compare with a stamp the child printed


def run_once(variant: Variant) -> Run:
    started = time.perf_counter()
    proc = subprocess.run(
        variant.argv,
        env=variant.env,
        capture_output=True,
        text=True,
        timeout=variant.timeout,
        check=False,
    )
    seconds = time.perf_counter() - started
    run = Run(seconds, proc, time.time())
    if variant.check is not None:
        variant.check(run)
    elif proc.returncode != 0:
        msg = f"{variant.argv[:3]} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        raise RuntimeError(msg)
    return run


def interleave(variants: Mapping[str, Variant], rounds: int, warmup: int = 1) -> dict[str, list[Run]]:
    """Run every variant ``rounds`` times, round after round in a rotated order.

    Each variant first runs ``warmup`` times unrecorded (``.pyc`` files written, caches warm).
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            run_once(variants[name])
    results: dict[str, list[Run]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(run_once(variants[name]))
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_seconds(runs: Sequence[Run]) -> float:
    return median([run.seconds for run in runs])


def stamped_exit(run: Run, marker: str = "EXIT-STAMP") -> float:
    """Seconds from the child's ``<marker> <time.time()>`` line on stderr to its exit."""
    found = re.findall(rf"^{marker} ([0-9.]+)$", run.stderr, re.MULTILINE)
    if not found:
        msg = f"no {marker} line in the child's stderr:\n{run.stderr[-2000:]}"
        raise RuntimeError(msg)
    return run.ended - float(found[-1])


def peak_rss_mib(variant: Variant) -> float | None:
    """Peak resident memory of one run, from ``/usr/bin/time -v`` (None where it is missing)."""
    if not Path("/usr/bin/time").exists():
        return None
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *variant.argv],
        env=variant.env,
        capture_output=True,
        text=True,
        timeout=variant.timeout,
        check=False,
    )
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return int(found.group(1)) / 1024 if found else None


def callgrind_instructions(argv: list[str], env: dict[str, str], ok_exits: tuple[int, ...] = (0,)) -> int:
    """Instructions the whole process executed, counted by callgrind (an exit status outside
    ``ok_exits`` is an error)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            env={**env, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    if proc.returncode not in ok_exits:
        msg = f"{argv[:3]} under callgrind exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        raise RuntimeError(msg)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if not found:
        msg = f"no instruction count in callgrind's output:\n{proc.stderr[-2000:]}"
        raise RuntimeError(msg)
    return int(found.group(1))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> None:
    """Print rows (dicts) as an aligned text table."""
    if not rows:
        return
    columns = list(columns or dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"  # goals of a few percent need the third decimal
    return str(value)
