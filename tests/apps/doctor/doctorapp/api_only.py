"""A CLI whose helper module imports the OpenTelemetry API (and nothing costlier) at start-up."""

from __future__ import annotations

import sys

from doctorapp import api_tracer, common  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    return common.run("api_only", sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
