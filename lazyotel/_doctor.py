"""``python -m lazyotel doctor``: profile a command's imports and flag forbidden ones.

A Python command (``python ...``, a ``.py`` file, a script whose shebang or pip's ``/bin/sh``
trampoline names a Python: console scripts) runs as ``PYTHON -X importtime SCRIPT ...``, which
profiles that one process. ``PYTHONPROFILEIMPORTTIME`` would also profile every Python process it
starts, their timings mixed into one stderr with no way to tell them apart (and ``-E`` / ``-I``
ignore it); it is the fallback for other commands (a binary launcher, a shell wrapper, ``uv run``).

Python also times imports that fail (``try: import grpc``), so a forbidden package the command's
interpreter cannot find at all is not reported. Importing this module is cheap, like all of lazyotel.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

#: Modules no CLI start-up should import: prefixes, so ``grpc`` also means ``grpc.*``. The costly
#: parts of OpenTelemetry: its SDK, exporters (and the protobuf classes they use), instrumentations.
DEFAULT_FORBID = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "opentelemetry.proto",
    "opentelemetry.instrumentation",
    "grpc",
    "wrapt",
)
#: Modules reported as a note (chain and cost) but not forbidden: the OpenTelemetry API alone costs
#: some 15-30 ms, often imported by code the CLI does not own. ``--forbid opentelemetry`` forbids it.
DEFAULT_NOTE = ("opentelemetry",)
#: What recorded a run's spans, by the first of these lazyotel modules it imported.
RECORDERS = (
    ("lazyotel._sdk", "the OpenTelemetry SDK, in the command"),
    ("lazyotel._recorder", "lazyotel's recorder, on the OpenTelemetry API (the SDK only in the shipper)"),
    ("lazyotel._lite", "lazyotel's recorder, without OpenTelemetry (the SDK only in the shipper)"),
)
NO_RECORDER = "none: no span was recorded (telemetry off, or nothing traced ran)"
#: Where the profiled command's bytecode goes (``PYTHONPYCACHEPREFIX``), never the project tree.
PYCACHE_VAR = "PYTHONPYCACHEPREFIX"
#: The doctor's exit codes.
EXIT_OK, EXIT_FORBIDDEN, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_FAILED, EXIT_NO_IMPORTS = 0, 1, 2, 3, 4, 5
PROFILE_VAR = "PYTHONPROFILEIMPORTTIME"
# Dropped from the inherited environment: cached bytecode gives realistic figures, and a child of
# a test run should start as a user's CLI does (lazyotel's "under pytest" check reads these).
_DROPPED_VARS = ("PYTHONDONTWRITEBYTECODE", "PYTEST_VERSION", "PYTEST_CURRENT_TEST")
_PYTHON_NAME = r"(?:python|pypy)[0-9.]*(?:\.exe)?"
_STDERR_TAIL = 20


class CommandNotFoundError(FileNotFoundError):
    """The command (or the interpreter its shebang names) cannot be found or run."""


class ModuleImport:
    """One line of ``-X importtime`` output: a module, its times and its place in the tree."""

    __slots__ = ("children", "cumulative_us", "name", "parent", "rule", "self_us")

    def __init__(self, name: str, self_us: int, cumulative_us: int) -> None:
        self.name = name
        self.self_us = self_us
        self.cumulative_us = cumulative_us
        self.parent: ModuleImport | None = None
        self.children: list[ModuleImport] = []
        self.rule: str | None = None  # the forbid rule it matched, if any

    @property
    def self_ms(self) -> float:
        return self.self_us / 1000

    @property
    def cumulative_ms(self) -> float:
        return self.cumulative_us / 1000

    @property
    def chain(self) -> list[str]:
        """The imports that pulled this one in, outermost first, ending with this module."""
        chain: list[str] = []
        node: ModuleImport | None = self
        while node is not None:
            chain.append(node.name)
            node = node.parent
        return chain[::-1]

    def descendants(self) -> int:
        """How many modules were imported beneath this one."""
        return sum(1 + child.descendants() for child in self.children)

    def as_dict(self) -> dict[str, Any]:
        found = {"rule": self.rule, "pulled_in": self.descendants()} if self.rule else {}
        times = {"cumulative_ms": round(self.cumulative_ms, 3), "self_ms": round(self.self_ms, 3)}
        return {"module": self.name, **times, "chain": self.chain, **found}

    def __repr__(self) -> str:
        return f"<ModuleImport {' > '.join(self.chain)} {self.cumulative_ms:.1f} ms>"


def parse_importtime(stderr: str) -> tuple[list[ModuleImport], list[str], int]:
    """Rebuild the import tree from ``-X importtime`` output.

    Python prints a module's line when its import ends, indented two spaces per level, so a
    line's children are the lines one level deeper printed since the last line at its own level.

    Returns:
        The modules in the order their imports began, the other stderr lines, and how many
        processes wrote timings (each prints the header once).
    """
    pending: dict[int, list[ModuleImport]] = {}
    other: list[str] = []
    processes = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            other.append(line)
            continue
        fields = line[len("import time:") :].split("|", 2)
        if len(fields) != 3 or not (fields[0].strip().isdigit() and fields[1].strip().isdigit()):
            processes += "self [us]" in line  # the header; anything else (3.14's "cached") is skipped
            continue
        rest = fields[2][1:]
        name = rest.lstrip(" ")
        node = ModuleImport(name.strip(), int(fields[0]), int(fields[1]))
        level = (len(rest) - len(name)) // 2
        node.children = pending.pop(level + 1, [])
        for child in node.children:
            child.parent = node
        pending.setdefault(level, []).append(node)
    # Lines left at deeper levels lost their parent (a process killed mid-import): keep them as roots.
    roots = [node for level in sorted(pending) for node in pending[level]]
    modules: list[ModuleImport] = []
    stack = roots[::-1]
    while stack:
        node = stack.pop()
        modules.append(node)
        stack.extend(node.children[::-1])
    return modules, other, processes


def parse_forbid(names: Iterable[str]) -> list[str]:
    """Validate forbid rules: dotted module names, items may be ``"a,b"``; ValueError if not."""
    rules = []
    for item in names:
        for name in (part.strip() for part in item.split(",")):
            if not all(part.isidentifier() for part in name.split(".")):
                msg = f"forbid: {name!r} is not a module name (expected e.g. 'opentelemetry' or 'my.pkg')"
                raise ValueError(msg)
            rules.append(name)
    return rules


def match_rule(name: str, rules: Iterable[str]) -> str | None:
    """The first rule forbidding ``name``: ``foo`` forbids ``foo`` and ``foo.*``, not ``foobar``."""
    return next((rule for rule in rules if name == rule or name.startswith(rule + ".")), None)


class ImportReport:
    """What one profiled run imported, and which of those imports are forbidden.

    ``modules`` lists every import Python timed, in the order they began; that includes
    imports that failed (``in`` tests it by name). ``stderr`` is the command's own stderr.
    """

    def __init__(
        self, command: Sequence[str], argv: list[str], proc: Any, rules: list[str], via: str
    ) -> None:
        self.command, self.argv, self.rules = list(command), argv, rules
        self.profiled_with = via  # "-X importtime" or PROFILE_VAR, see the module docstring
        self.returncode: int = proc.returncode
        self.stdout: str = proc.stdout.decode("utf-8", "replace")
        self.modules, other, self.processes = parse_importtime(proc.stderr.decode("utf-8", "replace"))
        self.stderr = "\n".join(other)  # the command's own stderr, timing lines removed
        self.not_installed: list[str] = []
        self.pycache_prefix: str | None = None  # set by check_imports when it chose one
        self.pycache_cold = False  # the prefix was empty: the figures include compiling
        for node in self.modules:
            node.rule = match_rule(node.name, self.rules)

    @property
    def forbidden(self) -> list[ModuleImport]:
        """The forbidden imports to fix: each matches a rule and its importer does not."""
        return [m for m in self.modules if m.rule and not (m.parent and m.parent.rule)]

    @property
    def notes(self) -> list[ModuleImport]:
        """Imports worth knowing about but not forbidden (``DEFAULT_NOTE``): the outermost each."""
        return [
            m
            for m in self.modules
            if m.rule is None
            and match_rule(m.name, DEFAULT_NOTE)
            and not (m.parent and match_rule(m.parent.name, DEFAULT_NOTE))
            and (m.children or m.name not in DEFAULT_NOTE)  # not the bare namespace package
        ]

    @property
    def total_ms(self) -> float:
        """The time spent in imports: the cumulative times of the top-level ones."""
        return sum(m.cumulative_us for m in self.modules if m.parent is None) / 1000

    def top(self, n: int = 10, by: str = "cumulative") -> list[ModuleImport]:
        """The ``n`` costliest imports, by ``"cumulative"`` or ``"self"`` time."""
        key = "self_us" if by == "self" else "cumulative_us"
        return sorted(self.modules, key=lambda m: getattr(m, key), reverse=True)[:n]

    def __contains__(self, name: object) -> bool:
        return any(m.name == name for m in self.modules)

    @property
    def recorder(self) -> str | None:
        """What recorded the command's spans, read off the lazyotel modules it imported; None
        where the command did not import lazyotel. ``LAZYOTEL_LOG=debug`` says why."""
        names = {m.name for m in self.modules if m.name.startswith("lazyotel")}
        for module, what in RECORDERS:
            if module in names:
                return what
        return NO_RECORDER if "lazyotel" in names else None

    def exit_code(self) -> int:
        """The doctor's verdict. A forbidden import wins over a failed command: it did happen."""
        if self.forbidden:
            return EXIT_FORBIDDEN
        if self.returncode != 0:
            return EXIT_FAILED
        return EXIT_OK if self.modules else EXIT_NO_IMPORTS

    def failure(self) -> str:
        """Why the command failed, with the tail of its stderr; empty if it exited 0."""
        if self.returncode == 0:
            return ""
        code = self.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = self.stderr.splitlines()[-_STDERR_TAIL:]
        return f"the command {how}" + "".join(f"\n  | {line}" for line in tail)

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        return {
            "command": self.command,
            "argv": self.argv,
            "returncode": self.returncode,
            "exit_code": self.exit_code(),
            "total_ms": round(self.total_ms, 3),
            "modules": len(self.modules),
            "processes": self.processes,
            "profiled_with": self.profiled_with,
            "forbid": self.rules,
            "top": [m.as_dict() for m in self.top(top)],
            "forbidden": [m.as_dict() for m in self.forbidden],
            "notes": [m.as_dict() for m in self.notes],
            "not_installed": self.not_installed,
            "recorder": self.recorder,
            "pycache_prefix": self.pycache_prefix,
            "pycache_cold": self.pycache_cold,
        }


def _which(name: str, env: Mapping[str, str]) -> str | None:
    import shutil

    return shutil.which(name, path=env.get("PATH", os.defpath))


def _interpreter(path: str, env: Mapping[str, str]) -> list[str] | None:
    """The interpreter (and its options) that runs ``path``, if that is Python."""
    import re

    try:
        with open(path, "rb") as file:
            head = file.read(1024).decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    if not head or not head[0].startswith("#!"):
        return [sys.executable] if path.endswith(".py") else None
    words = head[0][2:].split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if w != "-S"]
    trampoline = re.match(r"'''exec' (\"[^\"]+\"|\S+) ", head[1]) if len(head) > 1 else None
    if words and os.path.basename(words[0]) == "sh" and trampoline:  # pip's for long paths
        words = [trampoline.group(1).strip('"')]
    if not words or not re.fullmatch(_PYTHON_NAME, os.path.basename(words[0])):
        return None
    if os.sep not in words[0]:
        words[0] = _which(words[0], env) or words[0]
    return words


def _resolve(command: Sequence[str], env: dict[str, str]) -> tuple[list[str], list[str] | None]:
    """The argv that runs ``command`` profiled, and its Python interpreter if known.

    Without a known interpreter, ``PROFILE_VAR`` is set in ``env`` instead.
    """
    import re

    first, rest = command[0], list(command[1:])
    if re.fullmatch(_PYTHON_NAME, os.path.basename(first)):
        found = _which(first, env)
        if found is None:
            msg = f"command not found: {first!r}"
            raise CommandNotFoundError(msg)
        return [found, "-X", "importtime", *rest], [found]
    path = first if os.sep in first else _which(first, env)
    if path is None and first.endswith(".py"):
        path = first
    if path is None or not os.path.isfile(path):
        msg = f"command not found: {first!r}" + ("" if os.sep in first else " (not a file, not on PATH)")
        raise CommandNotFoundError(msg)
    interpreter = _interpreter(path, env)
    if interpreter:
        return [*interpreter, "-X", "importtime", path, *rest], interpreter
    env[PROFILE_VAR] = "1"
    return [path, *rest], None


def _not_installed(argv: list[str], python: list[str], names: list[str], env: dict[str, str]) -> list[str]:
    """Which of ``names`` (top-level) the command's interpreter cannot find.

    The search path also gets the directory of every file in ``argv`` (the script's was the
    command's ``sys.path[0]``): erring towards "found" keeps a module reported, never drops it.
    """
    import subprocess

    dirs = [os.path.dirname(os.path.realpath(a)) for a in argv if os.path.isfile(a)]
    code = "import importlib.util as u,sys;sys.path[:0]=sys.argv[2:2+int(sys.argv[1])];"
    code += "print(*[n for n in sys.argv[2+int(sys.argv[1]):] if u.find_spec(n) is None])"
    run = [*python, "-c", code, str(len(dirs)), *dirs, *names]
    try:
        proc = subprocess.run(
            run, env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return proc.stdout.decode().split()


def pycache_dir() -> tuple[str, bool]:
    """The doctor's bytecode cache, outside any project: (path, whether it is empty).

    One directory per user under the system's temporary directory, reused so that a second
    doctor run is as warm as a CLI's second start; a fresh one if that is not safely ours.
    """
    import stat
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"lazyotel-doctor-pycache-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        mine = stat.S_ISDIR(info.st_mode) and (not hasattr(os, "getuid") or info.st_uid == uid)
        if not mine or info.st_mode & 0o022:  # someone else's, or writable by others: not trusted
            path = tempfile.mkdtemp(prefix="lazyotel-doctor-pycache-")
    except OSError:
        path = tempfile.mkdtemp(prefix="lazyotel-doctor-pycache-")
    return path, not os.listdir(path)


def check_imports(
    command: Sequence[str],
    forbid: Iterable[str] = (),
    *,
    default_forbid: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    pycache: bool = True,
) -> ImportReport:
    """Run ``command`` with import-time profiling and report what it imported.

    Args:
        command: The command and its arguments, e.g. ``["mycli", "--help"]``.
        forbid: Modules to flag besides the defaults; ``foo`` also forbids ``foo.*``.
        default_forbid: Also forbid ``DEFAULT_FORBID`` (OpenTelemetry's SDK, exporters and
            instrumentations, ``grpc``, ``wrapt``). An ``opentelemetry`` API import is a note.
        env: The command's environment, used as given. By default ``os.environ`` without
            ``PYTHONDONTWRITEBYTECODE`` (so cached bytecode gives realistic figures) and without
            pytest's ``PYTEST_VERSION`` / ``PYTEST_CURRENT_TEST`` (so it runs as a user's would).
        timeout: Seconds before the command is killed.
        pycache: Write the command's bytecode under ``pycache_dir()`` (``PYTHONPYCACHEPREFIX``),
            never into the project, unless the environment sets ``PYTHONPYCACHEPREFIX`` itself.

    Returns:
        The report; a command that failed is reported too (see ``returncode``).

    Raises:
        CommandNotFoundError: The command or its interpreter cannot be found or run.
        ValueError: ``command`` is empty, or a forbid rule is not a module name.
        subprocess.TimeoutExpired: The command ran longer than ``timeout``.
    """
    import subprocess

    if not command:
        msg = "check_imports() needs a command, e.g. ['mycli', '--help']"
        raise ValueError(msg)
    rules = [*(DEFAULT_FORBID if default_forbid else ()), *parse_forbid(forbid)]
    child_env = dict(os.environ if env is None else env)
    for name in _DROPPED_VARS if env is None else ():
        child_env.pop(name, None)
    child_env.pop(PROFILE_VAR, None)
    prefix, cold = None, False
    if pycache and not child_env.get(PYCACHE_VAR):
        prefix, cold = pycache_dir()
        child_env[PYCACHE_VAR] = prefix
    argv, interpreter = _resolve(command, child_env)
    try:
        proc = subprocess.run(
            argv, env=child_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except OSError as exc:
        msg = f"cannot run {argv[0]!r}: {exc.strerror or exc}"
        raise CommandNotFoundError(msg) from exc
    report = ImportReport(command, argv, proc, rules, "-X importtime" if interpreter else PROFILE_VAR)
    report.pycache_prefix, report.pycache_cold = prefix, cold
    if report.forbidden and interpreter:
        # Failed imports are timed too: drop forbidden packages the interpreter cannot find at all.
        tops = sorted({m.name.split(".")[0] for m in report.modules if m.rule})
        report.not_installed = _not_installed(argv, interpreter, tops, child_env)
        for node in report.modules:
            if node.name.split(".")[0] in report.not_installed:
                node.rule = None
    return report


def assert_no_imports(
    command: Sequence[str],
    forbid: Iterable[str] = (),
    *,
    default_forbid: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    pycache: bool = True,
) -> ImportReport:
    """Run ``command`` and fail if it imported a forbidden module or did not succeed.

    Takes the arguments of ``check_imports``.

    Returns:
        The report, for further checks.

    Raises:
        AssertionError: A forbidden module was imported (the message gives each one's import
            chain), or the command failed (the message gives its exit code and stderr tail).
    """
    report = check_imports(
        command, forbid, default_forbid=default_forbid, env=env, timeout=timeout, pycache=pycache
    )
    problems = [f"forbidden import: {' > '.join(m.chain)}" for m in report.forbidden]
    if report.returncode != 0:
        problems.append(report.failure())
    if problems:
        msg = f"{' '.join(command)}:\n" + "\n".join(problems)
        raise AssertionError(msg)
    return report
