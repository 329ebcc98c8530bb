#!/usr/bin/env python3
"""The project's commands, from a fresh clone with only Python and pip.

    python3 tasks.py demo     set up .venv, then run the demo (a traced CLI, its trace shown)
    python3 tasks.py test     set up .venv, then ruff, mypy, pyright and the whole test suite,
                              then its in-process tests again in random order (seed printed),
                              then mypy for Python 3.9 and the testing toolkit's tests against
                              the lowest supported OpenTelemetry (1.21) in .venv-lowest, then
                              the core, exit, fork and plugin tests on every other supported
                              interpreter found (one .venv-py3.X each; a missing one is
                              reported and skipped)
    python3 tasks.py bench    set up .venv, then every benchmark in benchmarks/, one table

Each venv is (re)installed only when pyproject.toml changed since it was set up.
"""

from __future__ import annotations

import glob
import hashlib
import os
import random
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOWEST = ROOT / ".venv-lowest"
# The lowest versions lazyotel supports; .ci/run tests the toolkit against them.
LOWEST_PINS = [
    "opentelemetry-api==1.21.0",
    "opentelemetry-sdk==1.21.0",
    "opentelemetry-exporter-otlp-proto-http==1.21.0",
    "opentelemetry-exporter-otlp-proto-grpc==1.21.0",
    "opentelemetry-proto==1.21.0",
    "pytest>=7.4,<9",  # pytest 9 and packaging 26 need Python 3.10: mypy checks for 3.9 here
    "packaging<26",
    "mypy>=1.8,<2",
    "typing_extensions>=4.5",
    "pytest-xdist>=3",
    "pytest-randomly>=3.12",
    "hypothesis>=6.80",
]
# The tests that exercise what changes with the OpenTelemetry version: the provider reset,
# span capture, the pytest plugin, activation and export.
LOWEST_TESTS = ["tests/test_testing.py", "tests/test_plugin.py", "tests/test_core_export.py"]
# Left out of the random-order pass: each test's subject runs in a child process, so the order
# cannot leak state between them, and they are a third of the suite's time.
NOT_RANDOMIZED = ["tests/test_docs.py", "tests/test_example.py", "tests/test_core_exit.py"]
# Every supported interpreter: what changes between them is the process's life (exit hooks,
# threads at shutdown, fork), so these tests run on each one, in .venv-py3.X.
INTERPRETERS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
MATRIX_PINS = ["opentelemetry-proto>=1.21", "pytest>=7.4", "pytest-xdist>=3", "hypothesis>=6.80"]
MATRIX_TESTS = [
    "tests/test_core_exit.py",
    "tests/test_core_export.py",
    "tests/test_core_faults.py",
    "tests/test_core_lifecycle.py",
    "tests/test_core_threads.py",
    "tests/test_hardening_process.py",
    "tests/test_plugin.py",
    # lazyotel's recorder without OpenTelemetry: contextvars, the _json accelerator, the API's
    # version-dependent rules (attributes, tracestate) and each interpreter's process life.
    "tests/test_lite.py",
    "tests/test_jsonenc.py",
    "tests/test_w3c.py",
]
# Python 3.9 resolves a "middle" OpenTelemetry (1.39-1.41), whose events signal is deprecated:
# the testing toolkit runs there too, with DeprecationWarnings as errors.
MIDDLE = "3.9"
MIDDLE_TESTS = ["tests/test_testing.py", "tests/test_plugin.py"]


def _bin(env: Path, name: str) -> str:
    return str(env / ("Scripts" if os.name == "nt" else "bin") / name)


def _run(*cmd: str, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def _check(*cmd: str) -> None:
    code = _run(*cmd)
    if code:
        sys.exit(code)


def _ensure(
    env: Path,
    project: str = ".[otlp,grpc,httpx,testing]",
    *requirements: str,
    groups: tuple[str, ...] = ("dev",),
    python: str | None = None,
) -> None:
    stamp = env / ".lazyotel-stamp"
    # The interpreter counts only for the per-interpreter venvs (the others keep their stamps).
    extra = repr(requirements) + (repr(python) if python is not None else "")
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == key:
        return
    if not (env / "pyvenv.cfg").exists():
        if python is None:
            print(f"+ python -m venv {env.name}", flush=True)
            venv.create(env, with_pip=True)
        else:
            _check(python, "-m", "venv", str(env))
    pip = (_bin(env, "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q")
    _check(*pip, "--upgrade", "pip")
    # pip >= 25.1 (upgraded just above) installs PEP 735 dependency groups from pyproject.toml.
    _check(*pip, "-e", project, *requirements, *(arg for group in groups for arg in ("--group", group)))
    stamp.write_text(key)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # start-up figures need cached bytecode
    return env


def _pytest(env: Path, *args: str) -> int:
    code = _run(_bin(env, "python"), "-m", "pytest", *args, env=_child_env())
    if code == 5:  # pytest: no tests collected
        print("pytest collected no tests", flush=True)
        return 0
    return code


def _release(python: str) -> list[int]:
    """``.../versions/3.12.1/bin/python`` -> [3, 12, 1] (a suffix such as ``3.13.0t`` sorts first)."""
    return [int(part) if part.isdigit() else -1 for part in Path(python).parent.parent.name.split(".")]


def _interpreter(version: str) -> str | None:
    """``python3.X`` from pyenv's versions (newest patch first), else from PATH; None if absent."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = glob.glob(str(root / "versions" / f"{version}.*" / "bin" / "python"))
    found.sort(key=_release, reverse=True)
    candidates = [*found, shutil.which(f"python{version}")]
    for candidate in candidates:
        if candidate and subprocess.call([candidate, "-c", ""], stderr=subprocess.DEVNULL) == 0:
            return candidate
    return None


def _matrix() -> int:
    """The core, exit, fork and plugin tests on every supported interpreter but .venv's own."""
    main = ".".join(map(str, sys.version_info[:2]))
    ran = [f"{main} (.venv, whole suite)"]
    failed: list[str] = []
    missing: list[str] = []
    retried: list[str] = []
    for version in INTERPRETERS:
        if version == main:
            continue
        python = _interpreter(version)
        if python is None:
            print(f"+ Python {version}: not found on this machine, skipped", flush=True)
            missing.append(version)
            continue
        env = ROOT / f".venv-py{version}"
        _ensure(env, ".[otlp,grpc]", *MATRIX_PINS, groups=(), python=python)
        tests, flags = MATRIX_TESTS, []
        if version == MIDDLE:
            tests = list(dict.fromkeys(MATRIX_TESTS + MIDDLE_TESTS))
            flags = ["-W", "error::DeprecationWarning"]
        print(f"+ the core, exit, fork and plugin tests on Python {version} ({python})", flush=True)
        code = _pytest(env, "-n", "2", "-p", "no:randomly", *flags, *tests)
        if code:
            # Once, the failed tests alone: grpcio's C core aborted a forked child on Python 3.9
            # (tests/conftest.py now switches grpc's fork support off). A test that fails again
            # fails the run; a retry is always reported.
            print(f"+ Python {version}: tests FAILED; running the failed ones once more", flush=True)
            code = _pytest(env, "-p", "no:randomly", "--last-failed", *flags, *tests)
            if not code:
                retried.append(version)
        query = "import platform; print(platform.python_version())"
        exact = subprocess.check_output([_bin(env, "python"), "-c", query]).decode().strip()
        (failed if code else ran).append(f"{exact} ({env.name})")
    print("+ interpreters tested: " + ", ".join(ran), flush=True)
    if failed:
        print("+ interpreters with FAILED tests: " + ", ".join(failed), flush=True)
    if missing:
        print("+ interpreters NOT tested (absent): " + ", ".join(missing), flush=True)
    if retried:
        print(
            "+ interpreters that passed only on a retry of their failed tests: " + ", ".join(retried),
            flush=True,
        )
    return 1 if failed else 0


def demo() -> int:
    _ensure(VENV)
    return _run(_bin(VENV, "python"), "examples/demo.py", env=_child_env())


def test() -> int:
    _ensure(VENV)
    python = _bin(VENV, "python")
    for cmd in (
        (python, "-m", "ruff", "check", "."),
        (python, "-m", "ruff", "format", "--check", "."),
        (python, "-m", "mypy", "--python-version", "3.10"),  # the newest packages need 3.10
        (python, "-m", "pyright", "--pythonpath", python),
    ):
        code = _run(*cmd)
        if code:
            return code
    code = _pytest(VENV, "-n", "2", "-p", "no:randomly")
    if code:
        return code
    seed = random.randrange(2**32)  # in the command line printed: rerun a failing order with it
    print(f"+ the in-process tests again, in random order (seed {seed})", flush=True)
    ignore = [f"--ignore={path}" for path in NOT_RANDOMIZED]
    code = _pytest(VENV, "-n", "2", "-p", "randomly", f"--randomly-seed={seed}", *ignore)
    if code:
        return code
    _ensure(LOWEST, ".", *LOWEST_PINS, groups=())
    print("+ the same toolkit tests against the lowest supported OpenTelemetry", flush=True)
    # mypy for Python 3.9, as pyproject.toml says. Not the recorder: it needs opentelemetry-api
    # >= 1.23, and lazyotel uses the SDK on older ones (_recorder_setup.unsupported_reason).
    code = _run(_bin(LOWEST, "python"), "-m", "mypy", "--exclude", r"lazyotel/_recorder\.py$")
    code = code or _pytest(LOWEST, "-p", "no:randomly", *LOWEST_TESTS)
    if code:
        return code
    return _matrix()


def bench() -> int:
    _ensure(VENV)
    return _run(_bin(VENV, "python"), "benchmarks/run_all.py", *sys.argv[2:], env=_child_env())


COMMANDS = {"demo": demo, "test": test, "bench": bench}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]]())
