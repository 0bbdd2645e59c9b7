"""Every metric and breakdown of ``bulkhead.analytics`` over a million trades, against the
same computation written in plain pandas, in the same run.

Why this exists: reports and the bot's own insights recompute metrics from its whole
history. A history of a million trades (a fleet over years) must still be summarized in
well under a second, or reports stall and insights fall behind the market. The engine
is numpy (integer-coded text columns, ``bincount`` breakdowns, one pass for the equity
curve). The baseline is what one would write first: a pandas DataFrame, ``groupby`` per
breakdown, ``cummax`` for drawdowns, ``resample`` for daily returns.

Both compute the same numbers: trade counts, win rate, PnL sums, profit factor,
expectancy, the equity curve's drawdowns, daily returns with Sharpe and Sortino, exposure
(union of open intervals), and the five breakdowns (pair, entry tag, exit reason, hour,
weekday). The benchmark checks that they agree before timing them.

Targets: the engine under 1 s for 1,000,000 trades, and at least 3x faster than the pandas
baseline (best of ``--repeat`` runs each, alternating). ``--quick``: 200,000 trades, the
1 s target scaled linearly. One JSON object on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bulkhead.analytics.metrics import breakdowns, compute
from bulkhead.analytics.trades import DAY_MS, Codes, Trades

FULL_TRADES = 1_000_000
TARGET_S = 1.0
TARGET_SPEEDUP = 3.0
PAIRS = [f"P{i}/USDT" for i in range(40)]
TAGS = [f"tag{i}" for i in range(12)]
EXITS = ["roi", "stop_loss", "exit_signal", "trailing_stop_loss", "force_exit"]


def log(message: str) -> None:
    print(f"[bench analytics] {message}", file=sys.stderr, flush=True)


def synthetic(n: int, seed: int = 11) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    start = 1_600_000_000_000
    open_ms = np.sort(rng.integers(start, start + 4 * 365 * DAY_MS, n))
    close_ms = open_ms + rng.integers(60_000, 2 * DAY_MS, n)
    stake = rng.uniform(10, 100, n)
    ratio = rng.normal(0.001, 0.02, n)
    return {
        "pnl": stake * ratio,
        "stake": stake,
        "open_ms": open_ms,
        "close_ms": close_ms,
        "fees": stake * 0.002,
        "pair": rng.integers(0, len(PAIRS), n),
        "tag": rng.integers(0, len(TAGS), n),
        "exit": rng.integers(0, len(EXITS), n),
    }


def engine(data: dict[str, Any], start_balance: float) -> dict[str, Any]:
    trades = Trades.from_arrays(
        pnl=data["pnl"],
        stake=data["stake"],
        open_ms=data["open_ms"],
        close_ms=data["close_ms"],
        fees=data["fees"],
        pair=Codes(data["pair"], tuple(PAIRS)),
        tag=Codes(data["tag"], tuple(TAGS)),
        exit_reason=Codes(data["exit"], tuple(EXITS)),
    )
    metrics = compute(trades, start_balance)
    groups = breakdowns(trades)
    return {
        "trades": metrics.trades,
        "wins": metrics.wins,
        "net_pnl": metrics.net_pnl,
        "profit_factor": metrics.profit_factor,
        "max_drawdown": metrics.max_drawdown,
        "sharpe": metrics.sharpe,
        "sortino": metrics.sortino,
        "exposure": metrics.exposure,
        "pair_net": {g.key: g.net_pnl for g in groups["pair"]},
        "weekday_trades": {g.key: g.trades for g in groups["weekday"]},
    }


def pandas_baseline(data: dict[str, Any], start_balance: float) -> dict[str, Any]:
    """The same numbers the way one would first write them in pandas."""
    frame = pd.DataFrame(
        {
            "pnl": data["pnl"],
            "stake": data["stake"],
            "open": pd.to_datetime(data["open_ms"], unit="ms", utc=True),
            "close": pd.to_datetime(data["close_ms"], unit="ms", utc=True),
            "fees": data["fees"],
            "pair": pd.Categorical.from_codes(data["pair"], PAIRS).astype(str),
            "tag": pd.Categorical.from_codes(data["tag"], TAGS).astype(str),
            "exit": pd.Categorical.from_codes(data["exit"], EXITS).astype(str),
        }
    ).sort_values("close", kind="stable")
    frame["ratio"] = frame["pnl"] / frame["stake"]
    wins = frame["pnl"] > 0
    gross_profit = frame.loc[wins, "pnl"].sum()
    gross_loss = -frame.loc[frame["pnl"] < 0, "pnl"].sum()
    equity = start_balance + frame["pnl"].cumsum()
    equity = pd.concat([pd.Series([start_balance]), equity.reset_index(drop=True)])
    peak = equity.cummax()
    max_dd = ((peak - equity) / peak).max()
    daily_pnl = frame.set_index("close")["pnl"].resample("1D").sum()
    daily_equity = start_balance + daily_pnl.cumsum()
    daily = daily_equity.pct_change()
    daily.iloc[0] = daily_equity.iloc[0] / start_balance - 1
    sharpe = daily.mean() / daily.std() * math.sqrt(365)
    sortino = daily.mean() / math.sqrt((daily.clip(upper=0) ** 2).mean()) * math.sqrt(365)
    intervals = frame[["open", "close"]].sort_values("open")
    reach = intervals["close"].cummax()
    block = (intervals["open"] > reach.shift()).cumsum()
    blocks = intervals.groupby(block).agg(start=("open", "min"), end=("close", "max"))
    covered = (blocks["end"] - blocks["start"]).sum()
    window = frame["close"].max() - frame["open"].min()
    by = {
        "pair": frame.groupby("pair")["pnl"].agg(["count", "sum"]),
        "tag": frame.groupby("tag")["pnl"].agg(["count", "sum"]),
        "exit": frame.groupby("exit")["pnl"].agg(["count", "sum"]),
        "hour": frame.groupby(frame["open"].dt.hour)["pnl"].agg(["count", "sum"]),
        "weekday": frame.groupby(frame["open"].dt.day_name().str[:3])["pnl"].agg(["count", "sum"]),
    }
    for column in ("pair", "tag", "exit"):
        frame.groupby(column)["ratio"].mean()
    return {
        "trades": len(frame),
        "wins": int(wins.sum()),
        "net_pnl": float(frame["pnl"].sum()),
        "profit_factor": float(gross_profit / gross_loss),
        "max_drawdown": float(max_dd),
        "sharpe": float(sharpe),
        "sortino": float(sortino),
        "exposure": float(covered / window),
        "pair_net": {k: float(v) for k, v in by["pair"]["sum"].items()},
        "weekday_trades": {str(k): int(v) for k, v in by["weekday"]["count"].items()},
    }


def agree(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in a.items():
        other = b[key]
        if isinstance(value, dict):
            for k, v in value.items():
                if not math.isclose(v, other.get(k, math.nan), rel_tol=1e-6, abs_tol=1e-6):
                    problems.append(f"{key}[{k}]: {v} != {other.get(k)}")
        elif not math.isclose(float(value), float(other), rel_tol=1e-6, abs_tol=1e-9):
            problems.append(f"{key}: {value} != {other}")
    return problems


def best_of(action: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200,000 trades, under a minute")
    parser.add_argument("--trades", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per side")
    args = parser.parse_args(argv)
    n = args.trades or (200_000 if args.quick else FULL_TRADES)
    repeat = args.repeat or (3 if args.quick else 5)
    if n < 1000 or repeat < 1:
        parser.error("--trades must be at least 1000 and --repeat at least 1")
    budget_s = TARGET_S * n / FULL_TRADES

    log(f"{n} synthetic trades")
    data = synthetic(n)
    start_balance = 10_000.0
    ours, theirs = engine(data, start_balance), pandas_baseline(data, start_balance)
    problems = agree(ours, theirs)
    if problems:
        log("the engine and the pandas baseline disagree: " + "; ".join(problems[:5]))
        return 1
    log("engine and pandas agree on every number compared")
    engine_s: list[float] = []
    pandas_s: list[float] = []
    for round_index in range(repeat):
        engine_s += best_of(lambda: engine(data, start_balance), 1)
        pandas_s += best_of(lambda: pandas_baseline(data, start_balance), 1)
        took = f"engine {engine_s[-1]:.3f} s, pandas {pandas_s[-1]:.3f} s"
        log(f"round {round_index + 1}/{repeat}: {took}")
    best_engine, best_pandas = min(engine_s), min(pandas_s)
    speedup = best_pandas / best_engine
    targets = {
        "engine_seconds": {
            "max": round(budget_s, 3),
            "value": round(best_engine, 4),
            "met": best_engine < budget_s,
        },
        "speedup_over_pandas": {
            "min": TARGET_SPEEDUP,
            "value": round(speedup, 2),
            "met": speedup >= TARGET_SPEEDUP,
        },
    }
    for name, target in targets.items():
        log(f"target {name}: {target['value']} ({'met' if target['met'] else 'NOT met'})")
    print(
        json.dumps(
            {
                "benchmark": "analytics",
                "quick": args.quick,
                "trades": n,
                "engine": "numpy",
                "seconds": {
                    "engine": [round(t, 4) for t in engine_s],
                    "pandas": [round(t, 4) for t in pandas_s],
                },
                "targets": targets,
                "meets_targets": all(t["met"] for t in targets.values()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
