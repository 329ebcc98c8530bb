"""``ktrade data ...``: market data. Heavy libraries are imported inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _api

app = typer.Typer(no_args_is_help=True, help="Market data: show, load, quote, export.")

Symbol = Annotated[str, typer.Argument(help="Instrument symbol, for example EURUSD.")]
Timeframe = Annotated[str, typer.Option("--timeframe", "-t", help="Bar size: 1m, 1h, 1d.")]


@app.command("show")
def show(
    ctx: typer.Context,
    symbol: Symbol,
    timeframe: Timeframe = "1h",
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many bars to summarise.")] = 200,
) -> dict[str, Any]:
    """Summarise recent bars: last close, range, mean and volatility of returns."""
    import statistics
    from decimal import Decimal

    data = _api.request(
        ctx.obj, "GET", f"/api/v1/data/{symbol}", params={"timeframe": timeframe, "rows": rows}
    )
    closes = [bar["close"] for bar in data["bars"]]
    returns = [b / a - 1 for a, b in zip(closes, closes[1:])]
    cent = Decimal("0.0001")
    summary = {
        "symbol": data["symbol"],
        "timeframe": timeframe,
        "bars": len(closes),
        "last": str(Decimal(closes[-1]).quantize(cent)),
        "low": str(Decimal(min(bar["low"] for bar in data["bars"])).quantize(cent)),
        "high": str(Decimal(max(bar["high"] for bar in data["bars"])).quantize(cent)),
        "mean": str(Decimal(statistics.fmean(closes)).quantize(cent)),
        "volatility": round(statistics.stdev(returns), 6) if len(returns) > 1 else 0.0,
    }
    text = "  ".join(f"{key}={value}" for key, value in summary.items())
    _api.show(ctx.obj, summary, text)
    return summary


@app.command("load")
def load(
    ctx: typer.Context,
    symbol: Symbol,
    timeframe: Timeframe = "1h",
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")] = "2024-01-01",
    end: Annotated[str, typer.Option(help="Last date, YYYY-MM-DD.")] = "2024-12-31",
) -> dict[str, Any]:
    """Ask the API to load a symbol's history; prints the operation to follow."""
    payload = {"symbol": symbol.upper(), "timeframe": timeframe, "start": start, "end": end}
    operation = _api.request(ctx.obj, "POST", "/api/v1/data/load", json=payload)
    _api.show(ctx.obj, operation, f"loading {symbol.upper()} {timeframe}: {operation['operation_id']}")
    return operation


@app.command("quote")
def quote(
    ctx: typer.Context,
    symbol: Symbol,
    attempts: Annotated[int, typer.Option(help="Tries while the feed answers 503.")] = 5,
) -> dict[str, Any]:
    """Live bid/ask from the upstream feed, retried while the feed is busy."""
    answer = _api.request(ctx.obj, "GET", f"/api/v1/quotes/{symbol}", attempts=attempts)
    _api.show(ctx.obj, answer, f"{answer['symbol']}  bid {answer['bid']}  ask {answer['ask']}")
    return answer


@app.command("export")
def export(
    ctx: typer.Context,
    symbol: Symbol,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or xml.")] = "csv",
    timeframe: Timeframe = "1h",
    rows: Annotated[int, typer.Option("--rows", "-n")] = 500,
) -> dict[str, Any]:
    """Write bars to a CSV or XML file."""
    if fmt not in ("csv", "xml"):
        _api.fail(f"--format {fmt!r}: choose csv or xml")
    data = _api.request(
        ctx.obj, "GET", f"/api/v1/data/{symbol}", params={"timeframe": timeframe, "rows": rows}
    )
    fields = ["i", "open", "high", "low", "close", "volume"]
    if fmt == "csv":
        import csv

        with out.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(data["bars"])
    else:
        import xml.etree.ElementTree as ET

        root = ET.Element("bars", symbol=data["symbol"], timeframe=timeframe)
        for bar in data["bars"]:
            ET.SubElement(root, "bar", {name: str(bar[name]) for name in fields})
        ET.indent(root)
        ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    result = {"symbol": data["symbol"], "rows": len(data["bars"]), "path": str(out), "format": fmt}
    _api.show(ctx.obj, result, f"wrote {len(data['bars'])} bars to {out}")
    return result


@app.command("symbols")
def symbols(ctx: typer.Context) -> None:
    """List the symbols the API has data for."""
    answer = _api.request(ctx.obj, "GET", "/api/v1/symbols")
    _api.show(ctx.obj, answer, "\n".join(answer["symbols"]))
