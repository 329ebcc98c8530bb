"""What capturing a command's arguments (``cli.args``) costs, per call.

    python benchmarks/bench_capture.py                      # against json.dumps by hand
    python benchmarks/bench_capture.py --against ../main    # and against another checkout

Two typical argument sets (a few scalars; nine keyword arguments of the kinds typer passes: text,
numbers, flags, a URL, a secret, a list, an enum, a path, a nested dict). Each is captured by
``lazyotel._capture.capture`` and, side by side, by what a hand-written decorator does,
``json.dumps({"args": ..., "kwargs": ...}, default=repr)`` (no redaction, no caps); with
``--against``, also by the ``lazyotel`` of another checkout, loaded under another name in the
same process (a before/after comparison). Candidates run interleaved, round after round; the
figures are medians of the rounds (each round the best of ``timeit``'s repeats).
"""

from __future__ import annotations

import argparse
import enum
import importlib
import importlib.util
import json
import statistics
import sys
import timeit
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 15
NUMBER = 5_000


class Fmt(enum.Enum):
    TABLE = "table"


def show(
    symbol: str,
    days: int = 30,
    *,
    verbose: bool = False,
    url: str | None = None,
    api_token: str | None = None,
    tags: tuple[str, ...] = (),
    fmt: Fmt = Fmt.TABLE,
    out: PurePosixPath | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    pass


SETS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "scalars: 1 positional, 3 keywords": (
        ("AAPL",),
        {"days": 30, "verbose": False, "url": "http://localhost:8000"},
    ),
    "typical: 9 keywords": (
        (),
        {
            "symbol": "AAPL",
            "days": 30,
            "verbose": False,
            "url": "http://localhost:8000",
            "api_token": "s3cret",
            "tags": ["a", "b"],
            "fmt": Fmt.TABLE,
            "out": PurePosixPath("/tmp/x.csv"),
            "config": {"region": "eu", "retries": 3, "password": "x"},
        },
    ),
}


def _load(tree: Path, alias: str) -> Any:
    """``lazyotel._capture`` of the checkout at ``tree``, imported as ``alias``."""
    init = tree / "lazyotel" / "__init__.py"
    spec = importlib.util.spec_from_file_location(alias, init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        msg = f"no lazyotel package in {tree}"
        raise SystemExit(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{alias}._capture")


def _by_hand(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return json.dumps({"args": list(args), "kwargs": kwargs}, default=repr)


def main(rounds: int = ROUNDS, number: int = NUMBER, against: Path | None = None) -> list[dict[str, object]]:
    """Time every candidate on every argument set; return the rows of the table."""
    captures = {"lazyotel": _load(ROOT, "_bench_lazyotel")}
    if against is not None:
        captures["against"] = _load(against.resolve(), "_bench_against")
    rows: list[dict[str, object]] = []
    for label, (args, kwargs) in SETS.items():
        calls = {name: _call(module, args, kwargs) for name, module in captures.items()}
        calls["json.dumps"] = lambda args=args, kwargs=kwargs: _by_hand(args, kwargs)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                times[name].append(min(timeit.repeat(call, number=number, repeat=3)) / number)
        median = {name: statistics.median(values) for name, values in times.items()}
        for name in ("json.dumps", "against"):
            if name in median:
                rows.append(
                    {
                        "benchmark": f"capture cli.args, {label}",
                        "a": f"lazyotel {median['lazyotel'] * 1e6:.2f} us",
                        "b": f"{name if name != 'against' else against} {median[name] * 1e6:.2f} us",
                        "ratio": round(median["lazyotel"] / median[name], 2),
                        "detail": "redacted, capped, no code of the values run"
                        if name == "json.dumps"
                        else "before/after",
                    }
                )
    return rows


def _call(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    params = module.bind(show, 0)
    module.capture(params, args, kwargs, True)  # fill the caches, as every call after the first
    return lambda: module.capture(params, args, kwargs, True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout's root, for a before/after")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    for row in main(options.rounds, against=options.against):
        print(f"{row['benchmark']:<44} {row['a']:<22} {row['b']:<34} {row['ratio']:>5}x")
