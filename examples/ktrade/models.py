"""``ktrade models ...``: strategies and models. ``train`` is async, ``backtest`` computes locally."""

from __future__ import annotations

from typing import Annotated, Any

import typer

import lazyotel

from . import _api

app = typer.Typer(no_args_is_help=True, help="Models: train, list, show, backtest.")

Model = Annotated[str, typer.Argument(help="Model name: momentum, meanrev, breakout.")]


@app.command("train")
def train(
    ctx: typer.Context,
    model: Model,
    symbol: Annotated[str, typer.Option("--symbol", "-s")] = "EURUSD",
    epochs: Annotated[int, typer.Option("--epochs", "-e", min=1)] = 10,
) -> None:
    """Start training on the API; prints the operation to follow."""
    import asyncio

    operation = asyncio.run(start_training(ctx.obj.api_url, model=model, symbol=symbol, epochs=epochs))
    _api.show(ctx.obj, operation, f"training {model} on {symbol}: {operation['operation_id']}")


@lazyotel.trace_command("models_train")
async def start_training(api_url: str, *, model: str, symbol: str, epochs: int) -> dict[str, Any]:
    """The async part of ``train`` (ktrdr's commands run their API calls this way)."""
    import httpx

    async with httpx.AsyncClient(base_url=api_url, timeout=_api.TIMEOUT) as client:
        payload = {"model": model, "symbol": symbol, "epochs": epochs}
        response = await client.post("/api/v1/models/train", json=payload)
    if response.is_error:
        _api.fail(f"POST /api/v1/models/train: {response.status_code}")
    return response.json()  # type: ignore[no-any-return]


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List the models the API knows."""
    answer = _api.request(ctx.obj, "GET", "/api/v1/models")
    lines = [f"{m['name']:<10} {m['description']}" for m in answer["models"]]
    _api.show(ctx.obj, answer, "\n".join(lines))


@app.command("show")
def show(ctx: typer.Context, model: Model) -> None:
    """Show one model's description, features and version."""
    answer = _api.request(ctx.obj, "GET", f"/api/v1/models/{model}")
    text = f"{answer['name']} v{answer['version']}: {answer['description']} ({', '.join(answer['features'])})"
    _api.show(ctx.obj, answer, text)


@app.command("backtest")
def backtest(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Option("--symbol", "-s")] = "EURUSD",
    fast: Annotated[int, typer.Option(min=2)] = 10,
    slow: Annotated[int, typer.Option(min=3)] = 30,
    rows: Annotated[int, typer.Option("--rows", "-n")] = 1000,
) -> dict[str, Any]:
    """Backtest a moving-average crossover locally on the API's bars."""
    import statistics
    from decimal import Decimal

    if fast >= slow:
        _api.fail(f"--fast ({fast}) must be below --slow ({slow})")
    bars = _api.request(ctx.obj, "GET", f"/api/v1/data/{symbol}", params={"rows": rows})["bars"]
    closes = [bar["close"] for bar in bars]
    position, pnl, trades = 0, [], 0
    for i in range(slow, len(closes)):
        if position:
            pnl.append(position * (closes[i] / closes[i - 1] - 1))
        signal = 1 if statistics.fmean(closes[i - fast : i]) > statistics.fmean(closes[i - slow : i]) else -1
        trades += signal != position
        position = signal
    total = sum(pnl)
    sharpe = statistics.fmean(pnl) / statistics.stdev(pnl) * 252**0.5 if len(pnl) > 1 else 0.0
    result = {
        "symbol": symbol,
        "trades": trades,
        "return_pct": str(Decimal(total * 100).quantize(Decimal("0.01"))),
        "sharpe": round(sharpe, 3),
    }
    _api.show(ctx.obj, result, "  ".join(f"{k}={v}" for k, v in result.items()))
    return result
