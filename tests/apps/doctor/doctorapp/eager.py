"""A CLI that imports OpenTelemetry at start-up, through its telemetry module."""

from __future__ import annotations

import sys

from doctorapp import common, telemetry  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    return common.run("eager", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
