"""What both fixture CLIs do with their arguments."""

from __future__ import annotations

import sys


def run(name: str, argv: list[str]) -> int:
    """``--fail N``: exit N after a message on stderr; ``--warn``: a stderr line, exit 0;
    ``--spawn``: run a Python child that imports ``xml.dom.minidom``; ``--optional``: try to
    import a package that is not installed."""
    if "--optional" in argv:
        import contextlib

        with contextlib.suppress(ImportError):  # an optional dependency that is never installed
            import doctor_absent_package  # noqa: F401
    if "--spawn" in argv:
        import subprocess

        subprocess.run([sys.executable, "-c", "import xml.dom.minidom"], check=True)
    if "--warn" in argv:
        print(f"{name}: warning: this is the command's own stderr", file=sys.stderr)
    if "--fail" in argv:
        print(f"{name}: error: something went wrong", file=sys.stderr)
        return int(argv[argv.index("--fail") + 1])
    print(f"{name}: ok")
    return 0
