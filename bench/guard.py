"""The risk guard's cost: its decision latency against a Redis round trip, and what it adds
to a backtest.

Why this exists: the guard runs inside every bot's Freqtrade loop (``bot_loop_start``, every
entry's ``confirm_trade_entry`` and ``custom_stake_amount``) and on every candle of a
backtest. If its decisions cost much more than the Redis round trip the bot pays anyway,
it slows every bot; if it slows backtests, users turn it off there, and then they cannot
see how often each rule would have fired.

Latency, on one redis-server started for the benchmark (``appendfsync always``, as in
production), baseline measured in the same run:

* ``redis_round_trip``: a PING, the floor of any Redis-backed decision;
* ``entry_decision``: what one entry costs the guard, from a pair's analyzed candles (a
  pandas frame as Freqtrade hands it, ``freqtrade.guarding.candles``) through
  ``Guard.check_entry`` (state, loss streak, market data, volatility regime) and
  ``Guard.size`` (caps, regime scale), without the events' logging;
* ``loop_decision``: ``Guard.on_loop`` (drawdown, daily/weekly loss, loss streak) with its
  state saved to Redis (one SET, fsynced), as a live bot's loop runs it. The gateway
  reading that live bots add is one more HTTP request, measured by ``bench/gateway.py``.

Targets: each decision's p99 within 3 Redis round trips (p99 against p99).

Backtest: ``bulkhead backtest`` of examples/bulkhead.yaml with Freqtrade's SampleStrategy
on the bundled recording (6 days of 5-minute candles; markets from a twin started here),
with the guard and with ``risk.guard.enabled: false``, alternating, the wall time of the
whole command (Freqtrade's start-up included, as a user waits for it). Target: the guard
adds under 10 % (median against median).

One JSON object on stdout, progress on stderr. ``--quick``: fewer samples and one
backtest round each, under a minute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bulkhead.config.guard_rules import GuardRules
from bulkhead.freqtrade.guarding import candles
from bulkhead.guard.engine import Guard
from bulkhead.guard.wiring import RedisGuardMemory
from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.sim.server import TwinServer, prepare

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "bulkhead.yaml"
TWIN_SCENARIO = ROOT / "examples" / "sim.yaml"
BOT = "bot1"
ROUND_TRIPS_ALLOWED = 3
BACKTEST_OVERHEAD_ALLOWED = 0.10
FIVE = timedelta(minutes=5)


def log(message: str) -> None:
    print(f"[bench guard] {message}", file=sys.stderr, flush=True)


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6

    return {
        "n": len(ordered),
        "p50_us": round(at(0.50), 1),
        "p99_us": round(at(0.99), 1),
        "mean_us": round(statistics.fmean(ordered) * 1e6, 1),
    }


def timed(action: Callable[[], Any], count: int) -> list[float]:
    for _ in range(min(50, count)):  # warm-up
        action()
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        action()
        samples.append(time.perf_counter() - began)
    return samples


class Frames:
    """Freqtrade's DataProvider, for ``candles``: one analyzed frame per pair."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def get_analyzed_dataframe(self, pair: str, timeframe: str) -> tuple[pd.DataFrame, Any]:
        return self.frame, None


def analyzed_frame(now: datetime, count: int = 1000) -> pd.DataFrame:
    """What Freqtrade keeps of a pair in a live bot: ~1000 5m candles, indicators added."""
    rng = np.random.default_rng(5)
    closes = np.exp(np.cumsum(rng.normal(0, 0.003, count)))
    frame = pd.DataFrame(
        {
            "date": pd.date_range(end=now - FIVE, periods=count, freq="5min", tz="UTC"),
            "open": closes,
            "high": closes * 1.001,
            "low": closes * 0.999,
            "close": closes,
            "volume": rng.lognormal(3, 0.5, count),
        }
    )
    for window in (5, 10, 20, 50, 100, 200):
        frame[f"sma_{window}"] = frame["close"].rolling(window).mean()
    return frame


def measure_latency(samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as scratch:
        server = ManagedRedis(Path(scratch) / "redis", bundled_redis_server(), fsync="always")
        admin = server.ensure_running()
        client = admin.client(socket_timeout=5)
        log(f"redis-server on {admin.url} (appendfsync always)")
        try:
            rtt = timed(client.ping, samples)
            now = datetime.now(UTC)
            guard = Guard(
                GuardRules(),
                100.0,
                FIVE,
                memory=RedisGuardMemory(client, BOT),
                emit=lambda name, fields: None,
            )
            guard.on_loop(now, 100.0)
            provider = Frames(analyzed_frame(now))

            def entry() -> None:
                times, volumes, closes = candles(provider, "XRP/USDT", "5m", guard.closes_needed)
                verdict = guard.check_entry("XRP/USDT", now, times, volumes, closes)
                assert verdict.allowed, verdict.reason
                guard.size("XRP/USDT", 48.0, 0.0)

            profits = [0.1, -0.2, 0.3] * 30
            equity = iter(100.0 + 0.01 * (i % 200) for i in range(10**9))

            def loop() -> None:
                guard.on_loop(now, next(equity), profits, now - FIVE)

            entries, loops = timed(entry, samples), timed(loop, samples)
        finally:
            client.close()
            server.stop()
    result = {
        "redis_round_trip": percentiles(rtt),
        "entry_decision": percentiles(entries),
        "loop_decision": percentiles(loops),
    }
    floor = result["redis_round_trip"]["p99_us"]
    for name in ("entry_decision", "loop_decision"):
        result[name]["p99_in_round_trips"] = round(result[name]["p99_us"] / floor, 2)
    return result


def write_spec(folder: Path, guard_on: bool, twin_url: str) -> Path:
    document = yaml.safe_load(SPEC.read_text())
    (bot,) = document["bots"]
    bot["exchange"] = {"target": twin_url}  # markets (precision, minimums) come from it
    bot["timeframe"] = "5m"  # the bundled recording's
    bot["strategy"] = {"name": "SampleStrategy"}
    bot.setdefault("risk", {}).setdefault("guard", {})["enabled"] = guard_on
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document))
    return spec


def backtest_once(spec: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bulkhead", "backtest", BOT, "--spec", str(spec)],
        cwd=spec.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"bulkhead backtest failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took


def measure_backtest(rounds: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-guard-bt-") as scratch,
        TwinServer(
            prepare(TWIN_SCENARIO, credentials_out=Path(scratch) / "creds.json").twin
        ) as twin,
    ):
        log(f"twin on {twin.url} (markets for the backtests)")
        specs = {
            "with_guard": write_spec(Path(scratch) / "on", True, twin.url),
            "without_guard": write_spec(Path(scratch) / "off", False, twin.url),
        }
        times: dict[str, list[float]] = {name: [] for name in specs}
        for round_index in range(rounds):
            order = list(specs) if round_index % 2 == 0 else list(reversed(specs))
            for name in order:
                took = backtest_once(specs[name])
                times[name].append(took)
                log(f"backtest round {round_index + 1}/{rounds} {name}: {took:.2f} s")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rounds": rounds,
        "seconds": {name: [round(v, 3) for v in values] for name, values in times.items()},
        "median_s": {name: round(v, 3) for name, v in medians.items()},
        "overhead": round(medians["with_guard"] / medians["without_guard"] - 1, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--samples", type=int, default=None, help="latency samples per path")
    parser.add_argument("--rounds", type=int, default=None, help="backtest rounds per side")
    args = parser.parse_args(argv)
    samples = args.samples or (2000 if args.quick else 20000)
    rounds = args.rounds or (1 if args.quick else 5)
    if samples < 10 or rounds < 1:
        parser.error("--samples must be at least 10 and --rounds at least 1")

    log(f"latency: {samples} samples per path")
    latency = measure_latency(samples)
    for name in ("redis_round_trip", "entry_decision", "loop_decision"):
        shown = latency[name]
        log(f"{name}: p50 {shown['p50_us']} us, p99 {shown['p99_us']} us")
    log(f"backtest: {rounds} round(s) per side")
    backtest = measure_backtest(rounds)

    entry_rt = latency["entry_decision"]["p99_in_round_trips"]
    loop_rt = latency["loop_decision"]["p99_in_round_trips"]
    targets = {
        "entry_p99_in_round_trips": {
            "max": ROUND_TRIPS_ALLOWED,
            "value": entry_rt,
            "met": entry_rt <= ROUND_TRIPS_ALLOWED,
        },
        "loop_p99_in_round_trips": {
            "max": ROUND_TRIPS_ALLOWED,
            "value": loop_rt,
            "met": loop_rt <= ROUND_TRIPS_ALLOWED,
        },
        "backtest_overhead": {
            "max": BACKTEST_OVERHEAD_ALLOWED,
            "value": backtest["overhead"],
            "met": backtest["overhead"] < BACKTEST_OVERHEAD_ALLOWED,
        },
    }
    for name, target in targets.items():
        log(f"target {name}: {target['value']} ({'met' if target['met'] else 'NOT met'})")
    print(
        json.dumps(
            {
                "benchmark": "guard",
                "quick": args.quick,
                "latency": latency,
                "backtest": backtest,
                "targets": targets,
                "meets_targets": all(t["met"] for t in targets.values()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
