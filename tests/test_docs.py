"""Every code block in README.md and docs/*.md runs, so none can rot.

Each document's blocks run in order, in one fresh temporary directory per document, each in a
fresh process whose environment is a user's shell: no ``PYTEST_*``, ``OTEL_*`` or ``LAZYOTEL_*``
variables (so lazyotel is not in test mode), this checkout first on ``PYTHONPATH``, and this
interpreter's directory first on ``PATH`` (``python`` is the interpreter running the tests).

- ``python``: run as a script (``python block.py``); it must exit 0.
- ``pycon``: a doctest (``>>>`` prompts): outputs and exceptions are compared, ``...`` matches
  anything (``ELLIPSIS``).
- ``console``: each line starting with ``$ `` is a shell command, run with ``sh -c`` in the
  directory; it must exit 0. Other lines are output, shown to the reader and not compared. In a
  block without any ``$ `` prompt, every line is a command.
  ``pip install`` lines are not run (the package is installed already, and CI does not reach a
  package index); they must install ``lazyotel``.
- ``text``: shown, not run (a signature, a layout).
- any other language (``ini``, ``toml``...) must carry a ``file`` marker.

Markers: an HTML comment on the line just before a block's opening fence.

- ``<!-- docs: file NAME -->``: write the block to NAME in the directory instead of running it;
  a later block uses it (``$ python NAME``, ``$ python -m pytest NAME``). A python file is
  type-checked like a run block.
- ``<!-- docs: fragment -->``: a snippet, not a whole program (it uses names from the text around
  it): python is compiled, not run; console commands are split with ``shlex``, not run.
- ``<!-- docs: skip (reason) -->``: not run at all, for what cannot run in the suite (two
  terminals, the project's own ``tasks.py``). Use it sparingly and say why in the comment.

The python blocks of README.md that run (or are written to a file) are also type-checked by
mypy and pyright: they are what users copy.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _child import child_env

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
MARKER = re.compile(r"^\s*<!--\s*docs:\s*(?P<kind>file|fragment|skip)\b\s*(?P<arg>.*?)\s*-->\s*$")
SHOWN = {"text"}
TIMEOUT = 120


class Block:
    """One fenced code block, with its marker."""

    def __init__(self, path: Path, line: int, lang: str, text: str, marker: tuple[str, str] | None) -> None:
        self.path = path
        self.line = line
        self.lang = lang
        self.text = text
        self.kind, self.arg = marker or ("run", "")

    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, dedented to their fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, indent = i, len(match["indent"])
        i += 1
        body: list[str] = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            line = lines[i]
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
            i += 1
        i += 1  # the closing fence
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = MARKER.match(lines[before]) if before >= 0 else None
        found.append(
            Block(
                path,
                start + 1,
                match["lang"],
                "\n".join(body) + "\n",
                (marker["kind"], marker["arg"]) if marker else None,
            )
        )
    return found


def user_env() -> dict[str, str]:
    """A user's shell: no pytest, OpenTelemetry or lazyotel variables; this checkout importable."""
    env = child_env()
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    return env


def _fail(block: Block, what: str, proc: subprocess.CompletedProcess[str]) -> None:
    output = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    pytest.fail(f"{block.where()}: {what} exited {proc.returncode}\n{output}", pytrace=False)


def _run(block: Block, argv: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(
        argv, cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if proc.returncode != 0:
        _fail(block, what, proc)


def _commands(block: Block) -> list[str]:
    lines = block.text.splitlines()
    if not any(line.startswith("$ ") for line in lines):  # no prompts: every line is a command
        return [line.strip() for line in lines if line.strip()]
    return [line[2:].strip() for line in lines if line.startswith("$ ")]


def _check_pip(block: Block, command: str) -> None:
    words = shlex.split(command)
    assert any(w == "lazyotel" or w.startswith("lazyotel[") for w in words), (
        f"{block.where()}: {command!r} does not install lazyotel"
    )


def run_block(block: Block, cwd: Path) -> None:
    """Run (or write, or check) one block in ``cwd``; fail the test with its output if it fails."""
    if block.kind == "skip":
        assert block.arg, f"{block.where()}: say why it is skipped: <!-- docs: skip (reason) -->"
        return
    if block.kind == "file":
        assert block.arg, f"{block.where()}: name the file: <!-- docs: file NAME -->"
        (cwd / block.arg).write_text(block.text, encoding="utf-8")
        return
    if block.lang == "python":
        if block.kind == "fragment":
            compile(block.text, block.where(), "exec")
            return
        script = cwd / f"_block_{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        _run(block, [sys.executable, script.name], cwd, "the python block")
    elif block.lang == "pycon":
        test = doctest.DocTestParser().get_doctest(block.text, {}, block.where(), None, 0)
        assert test.examples, f"{block.where()}: a pycon block without >>> prompts"
        doc = cwd / f"_block_{block.line}.txt"
        doc.write_text(block.text, encoding="utf-8")
        _run(block, [sys.executable, "-m", "doctest", "-o", "ELLIPSIS", doc.name], cwd, "the doctest")
    elif block.lang == "console":
        commands = _commands(block)
        assert commands, f"{block.where()}: a console block without '$ ' commands"
        for command in commands:
            if block.kind == "fragment":
                shlex.split(command, comments=True)
            elif command.startswith("pip install"):
                _check_pip(block, command)
            else:
                _run(block, ["sh", "-c", command], cwd, f"$ {command}")
    elif block.lang not in SHOWN:
        kind = block.lang or "plain"
        pytest.fail(f"{block.where()}: a {kind} block needs a file or skip marker", pytrace=False)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_runs(document: Path, tmp_path: Path) -> None:
    failures = []
    for block in blocks(document):  # all of them, so one run lists every broken block
        try:
            run_block(block, tmp_path)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(str(exc))
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_the_quick_start_prints_a_span(tmp_path: Path) -> None:
    """A reader following only the README sees a span: its third step prints ``cli.hello``."""
    readme = blocks(ROOT / "README.md")
    hello = next(b for b in readme if b.kind == "file" and b.arg == "hello.py")
    step = next(b for b in readme if b.lang == "console" and "hello.py" in b.text and b.kind == "run")
    (tmp_path / "hello.py").write_text(hello.text, encoding="utf-8")
    (command,) = _commands(step)
    proc = subprocess.run(
        ["sh", "-c", command],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.stdout == "Hello, world!\n"
    assert '"name": "cli.hello"' in proc.stderr


def test_markers_are_understood() -> None:
    """A marker that is misspelt would silently run (or not run) a block: every one must parse."""
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            if "<!-- docs" in line:
                assert MARKER.match(line), f"{document.relative_to(ROOT)}:{number}: unknown marker {line!r}"


def _readme_programs(tmp_path: Path) -> list[Path]:
    files = []
    for block in blocks(ROOT / "README.md"):
        if block.lang != "python" or block.kind in ("skip", "fragment"):
            continue
        name = block.arg if block.kind == "file" else f"readme_block_{block.line}.py"
        target = tmp_path / name
        target.write_text(block.text, encoding="utf-8")
        files.append(target)
    return files


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_readme_snippets_type_check(checker: str, tmp_path: Path) -> None:
    """What users copy type-checks as written (``@trace_command("name")`` did not, once)."""
    pytest.importorskip(checker)
    files = _readme_programs(tmp_path)
    assert files
    if checker == "mypy":
        argv = [sys.executable, "-m", "mypy", "--check-untyped-defs", "--no-incremental", "--strict-equality"]
    else:
        argv = [sys.executable, "-m", "pyright", "--pythonpath", sys.executable]
    env = user_env()
    env["MYPYPATH"] = str(ROOT)
    proc = subprocess.run(
        [*argv, *(f.name for f in files)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, textwrap.indent(proc.stdout + proc.stderr, "  ")


def test_the_runner_fails_a_broken_block(tmp_path: Path) -> None:
    """The runner is not a rubber stamp: a failing command and a bad doctest fail it."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```console\n$ python -c 'raise SystemExit(3)'\n```\n\n```pycon\n>>> 1 + 1\n3\n```\n",
        encoding="utf-8",
    )
    for block in blocks(doc):
        with pytest.raises(pytest.fail.Exception):
            run_block(block, tmp_path)
    assert shutil.which("sh")
