"""Run every ``benchmarks/bench_*.py`` and print one table, with the date and the machine.

    python3 tasks.py bench [--rounds N] [--only NAME[,NAME...]] [--markdown FILE]
    python benchmarks/run_all.py ...               (the same, in the project's venv)

Each module's ``main()`` returns its rows (dicts). The preferred shape is
``{"benchmark", "a", "b", "ratio", "detail", "goal"}``: ``a`` measured against ``b``, side by side
in one run, ``ratio = a / b``. Rows of another shape are shown too: a ``case`` or ``candidate``
names the row, the first of ``ratio`` / ``figure`` / ``x_*`` is the figure, the rest is detail.
``--markdown FILE`` also writes the table as Markdown (for benchmarks/README.md). A benchmark that fails
is reported in the table and makes the exit code 1; the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ("benchmark", "measured", "against", "ratio", "goal", "detail")
NAME_KEYS = ("benchmark", "case")
A_KEYS = ("a", "candidate")
B_KEYS = ("b",)
FIGURE_KEYS = ("ratio", "figure")


def discover(only: list[str] | None = None) -> list[str]:
    """The ``bench_*`` module names, sorted; ``only`` keeps those named (with or without ``bench_``)."""
    names = sorted(path.stem for path in HERE.glob("bench_*.py"))
    if only:
        wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in only}
        unknown = wanted - set(names)
        if unknown:
            msg = f"no such benchmark: {', '.join(sorted(unknown))}; choose from {', '.join(names)}"
            raise SystemExit(msg)
        names = [name for name in names if name in wanted]
    return names


def _figure(row: dict[str, object]) -> tuple[str, object, str]:
    """The figure's key, value and unit: ``ratio``/``figure`` first, then any ``x_<other>`` key."""
    for key in FIGURE_KEYS:
        if key in row:
            return key, row[key], str(row.get("unit", "")) if key == "figure" else ""
    for key, value in row.items():
        if key.startswith("x_") and isinstance(value, (int, float)):
            return key, value, f"x {key[2:]}"
    return "", "", ""


def normalise(source: str, row: dict[str, object]) -> dict[str, str]:
    """A row of any shape as the table's columns."""
    short = source[len("bench_") :] if source.startswith("bench_") else source
    name = next((str(row[k]) for k in NAME_KEYS if k in row), "")
    key, value, unit = _figure(row)
    used = {*NAME_KEYS, *A_KEYS, *B_KEYS, key, "detail", "goal", "unit"}
    rest = [f"{k}={v}" for k, v in row.items() if k not in used]
    detail = "; ".join(part for part in (str(row.get("detail", "")), *rest) if part)
    ratio = (
        f"{value:.3f}x" if key == "ratio" and isinstance(value, (int, float)) else f"{value} {unit}".strip()
    )
    return {
        "benchmark": f"{short}: {name}" if name and "benchmark" not in row else name or short,
        "measured": next((str(row[k]) for k in A_KEYS if k in row), ""),
        "against": next((str(row[k]) for k in B_KEYS if k in row), ""),
        "ratio": ratio,
        "detail": detail,
        "goal": str(row.get("goal", "")),
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = f", load {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{platform.platform()}; {cpu}; {os.cpu_count()} CPUs{load}; {python}"


def run(name: str, rounds: int | None) -> tuple[list[dict[str, str]], str]:
    """A benchmark's normalised rows and its error text (empty when it worked)."""
    try:
        module = importlib.import_module(name)
        kwargs = {}
        if rounds is not None and "rounds" in inspect.signature(module.main).parameters:
            kwargs["rounds"] = rounds
        rows = module.main(**kwargs)
        return [normalise(name, dict(row)) for row in rows], ""
    except Exception as exc:  # a broken benchmark must not hide the others
        traceback.print_exc()
        failed = {c: "" for c in COLUMNS}
        failed.update(benchmark=name, detail=f"FAILED: {type(exc).__name__}: {exc}"[:200])
        return [failed], str(exc)


def render_text(rows: list[dict[str, str]]) -> str:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in COLUMNS}
    widths["detail"] = min(widths["detail"], 70)
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in COLUMNS))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip() for r in rows]
    return "\n".join(lines)


def render_markdown(rows: list[dict[str, str]], header: list[str]) -> str:
    cells = [[r[c].replace("|", "\\|") for c in COLUMNS] for r in rows]
    lines = [*(f"{line}  " for line in header), "", "| " + " | ".join(COLUMNS) + " |"]
    lines.append("|" + "|".join("---:" if c == "ratio" else "---" for c in COLUMNS) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (each module's default if omitted)")
    parser.add_argument("--only", help="comma-separated benchmark names, e.g. example,decorator")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    names = discover(args.only.split(",") if args.only else None)
    started = datetime.datetime.now(datetime.timezone.utc)
    rows: list[dict[str, str]] = []
    failures = 0
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        found, error = run(name, args.rounds)
        rows += found
        failures += bool(error)
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    header = [
        f"lazyotel benchmarks, {started:%Y-%m-%d %H:%M} UTC ({', '.join(n[6:] for n in names)})",
        f"machine: {machine()}",
        "ratios: measured / against, both measured side by side in the same run (interleaved, medians)",
    ]
    print("\n".join(header) + "\n")
    print(render_text(rows))
    if args.markdown:
        args.markdown.write_text(render_markdown(rows, header))
        print(f"\nwrote {args.markdown}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
