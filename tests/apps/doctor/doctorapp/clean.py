"""A CLI that imports nothing forbidden at start-up."""

from __future__ import annotations

import sys

from doctorapp import common


def main(argv: list[str] | None = None) -> int:
    return common.run("clean", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
