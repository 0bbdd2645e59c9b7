"""Real Freqtrade, as a subprocess, against the KuCoin twin on a background thread.

One twin (examples/sim.yaml) serves the whole module: listing markets, downloading
candles, then a live (not dry-run) bot on the sub-account key "bot1-trade" running the
bundled TwinScalper strategy until it has closed a trade. Every check polls with a
deadline; a failing test prints the tail of Freqtrade's output.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import botkit
import pandas as pd
import pytest
import yaml

from bulkhead.config.loader import parse_fleet
from bulkhead.config.workspace import BotPaths
from bulkhead.freqtrade.stack import prepare as prepare_stack
from bulkhead.plumbing import wait_until
from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sim.yaml"
EXAMPLE_SPEC = ROOT / "examples" / "bulkhead.yaml"
FREQTRADE = Path(sys.executable).with_name("freqtrade")
BOT_KEY = "bot1-trade"
PAIR = "XRP/USDT"

COMMAND_TIMEOUT_S = 120
ROUND_TRIP_DEADLINE_S = 240
STOP_DEADLINE_S = 30
TAIL_LINES = 80


@dataclass
class Rig:
    twin: Twin
    server: TwinServer
    config_path: Path
    config: dict[str, Any]
    user_data: Path
    db_path: Path
    logs: Path
    master_accounts_before: dict[str, Any]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("freqtrade_on_twin")
    prepared = prepare(SCENARIO, credentials_out=root / "creds.json")
    key = next(c for c in prepared.credentials if c["name"] == BOT_KEY)
    logs = root / "logs"
    logs.mkdir()
    with TwinServer(prepared.twin) as server:
        # The product's own renderer (the strategy stack: TwinScalper under Bulkhead's
        # layer), with the key written in: this module drives the freqtrade commands by
        # hand, without Bulkhead's supervisor and its environment.
        spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
        spec["bots"][0]["exchange"] = {"target": server.url}
        bot = parse_fleet(spec).bots[0]
        paths = BotPaths(root / "bot")
        paths.user_data.mkdir(parents=True)
        config = prepare_stack(bot, EXAMPLE_SPEC.parent).render(paths)
        config["exchange"].update(
            key=str(key["apiKey"]), secret=str(key["secret"]), password=str(key["passphrase"])
        )
        del config["api_server"]
        config["stake_amount"] = 20
        user_data, db_path = paths.user_data, paths.database
        config_path = root / "config.json"
        config_path.write_text(json.dumps(config, indent=2))
        master = prepared.twin.user_by_name("master")
        yield Rig(
            twin=prepared.twin,
            server=server,
            config_path=config_path,
            config=config,
            user_data=user_data,
            db_path=db_path,
            logs=logs,
            master_accounts_before=botkit.balances(master.accounts),
        )


def _freqtrade(rig: Rig, name: str, *args: str) -> str:
    """Run one Freqtrade command to completion; its stdout, or a failure with its log."""
    out, err = rig.logs / f"{name}.out", rig.logs / f"{name}.log"
    with out.open("w") as stdout, err.open("w") as stderr:
        done = subprocess.run(
            [str(FREQTRADE), *args, "--config", str(rig.config_path)],
            stdout=stdout,
            stderr=stderr,
            timeout=COMMAND_TIMEOUT_S,
            env={**os.environ, "COLUMNS": "200"},
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(
            f"freqtrade {args[0]} exited {done.returncode}"
            f"\n--- stdout ---\n{botkit.tail(out, TAIL_LINES)}"
            f"\n--- log ---\n{botkit.tail(err, TAIL_LINES)}"
        )
    return out.read_text()


def test_list_markets(rig: Rig) -> None:
    started = time.monotonic()
    stdout = _freqtrade(rig, "list-markets", "list-markets", "--print-json")
    markets = json.loads(stdout.strip().splitlines()[-1])
    assert set(markets) >= {"XRP/USDT", "ETH/USDT", "ADA/USDT", "BTC/USDT"}
    print(f"list-markets took {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize(("timeframe", "interval"), [("5m", "5min"), ("1h", "1hour")])
def test_download_data(rig: Rig, timeframe: str, interval: str) -> None:
    data_file = rig.user_data / "data" / "kucoin" / f"XRP_USDT-{timeframe}.feather"
    if not data_file.exists():  # one download serves both timeframes
        started = time.monotonic()
        _freqtrade(
            rig,
            "download-data",
            "download-data",
            "--pairs",
            PAIR,
            "--timeframes",
            "5m",
            "1h",
            "--days",
            "2",
            "--exchange",
            "kucoin",
        )
        print(f"download-data took {time.monotonic() - started:.1f} s")
    assert data_file.exists(), sorted(p.name for p in data_file.parent.glob("*"))

    candles = pd.read_feather(data_file)
    step = pd.Timedelta(timeframe)
    per_day = pd.Timedelta("1D") // step
    # --days 2 starts at midnight two days ago: between two and three days of candles.
    assert 2 * per_day - 1 <= len(candles) <= 3 * per_day
    dates = candles["date"]
    assert dates.is_monotonic_increasing
    assert dates.is_unique
    assert (dates.diff().dropna() == step).all()
    assert pd.Timestamp.now(tz="UTC") - dates.iloc[-1] < 3 * step
    assert (candles[["open", "high", "low", "close"]] > 0).all().all()
    assert (candles["high"] >= candles["low"]).all()

    # The candles are the twin's own: same close at the same time.
    now_ms = rig.twin.now_ms()
    first_s = int(dates.iloc[0].timestamp())
    twin_rows = rig.twin.source("XRP-USDT").candles(interval, first_s, now_ms // 1000 + 1, now_ms)
    twin_close = {row.time_s: row.close for row in twin_rows}
    for date, close in zip(dates, candles["close"], strict=True):
        assert close == pytest.approx(twin_close[int(date.timestamp())], rel=1e-8)


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGINT, as Ctrl-C would; then SIGTERM; then SIGKILL. The exit code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    return process.wait(timeout=STOP_DEADLINE_S)


def test_live_round_trip(rig: Rig) -> None:
    log = rig.logs / "trade.log"
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(FREQTRADE), "trade", "--config", str(rig.config_path)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:

        def traded() -> bool:
            assert process.poll() is None, f"freqtrade exited with {process.returncode}"
            return botkit.closed_trades(rig.db_path) >= 1

        wait_until(traded, ROUND_TRIP_DEADLINE_S, 0.5, what="a first closed trade")
        round_trip_s = time.monotonic() - started
        exit_code = _stop(process)
        print(f"first round trip after {round_trip_s:.1f} s; freqtrade exited {exit_code}")
        assert exit_code == 130, "freqtrade did not shut down as on Ctrl-C"  # main.py's code
        _check_round_trip(rig)
    except BaseException:
        if process.poll() is None:
            process.kill()
        print(f"--- tail of {log} ---\n{botkit.tail(log, TAIL_LINES)}")
        raise


def _check_round_trip(rig: Rig) -> None:
    state = rig.twin.state
    bot = rig.twin.user_by_name("bot1")
    master = rig.twin.user_by_name("master")
    orders = dict(state.orders)
    fills = list(state.fills)

    # Everything on the exchange was done by the sub-account; the master is untouched.
    assert orders, "the twin saw no orders"
    assert {o.uid for o in orders.values()} == {bot.uid}
    assert {f.uid for f in fills} == {bot.uid}
    assert botkit.balances(master.accounts) == rig.master_accounts_before

    with sqlite3.connect(f"file:{rig.db_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        trades = db.execute("SELECT * FROM trades WHERE is_open = 0").fetchall()
        db_orders = db.execute("SELECT * FROM orders").fetchall()
    assert trades, "no closed trade in Freqtrade's database"

    # Freqtrade's orders are the twin's orders, and its filled amounts and prices are
    # exactly what the twin's fills say.
    for row in db_orders:
        assert row["order_id"] in orders, f"{row['order_id']} unknown to the twin"
    for trade in trades:
        own = [r for r in db_orders if r["ft_trade_id"] == trade["id"]]
        filled = [r for r in own if r["status"] == "closed" and r["filled"]]
        assert {r["ft_order_side"] for r in filled} == {"buy", "sell"}, [dict(r) for r in own]
        for row in filled:
            mine = [f for f in fills if f.order_id == row["order_id"]]
            assert mine, f"no twin fill for {row['order_id']}"
            size = sum((f.size for f in mine), Decimal(0))
            funds = sum((f.funds for f in mine), Decimal(0))
            assert {f.side for f in mine} == {row["side"]}
            assert row["filled"] == pytest.approx(float(size), rel=1e-9)
            assert row["cost"] == pytest.approx(float(funds), rel=1e-9)
            assert row["average"] == pytest.approx(float(funds / size), rel=1e-9)
            twin_order = orders[row["order_id"]]
            assert not twin_order.is_active
            assert twin_order.deal_size == size
        # The stop order on the exchange was placed and, with the trade closed, cancelled.
        stops = [r for r in own if r["ft_order_side"] == "stoploss"]
        assert stops, "no stoploss order on exchange"
        for row in stops:
            assert orders[row["order_id"]].stop == "loss"
            assert not orders[row["order_id"]].is_active
        assert trade["amount"] == pytest.approx(
            next(r["filled"] for r in filled if r["ft_order_side"] == "sell"), rel=1e-9
        )

    # The sub-account's money adds up to its 100 USDT plus what the fills moved.
    expected = botkit.moved_by(fills, {"USDT": Decimal(100)})
    held = {cur: b.balance for cur, b in bot.accounts["trade"].items()}
    for currency, amount in expected.items():
        assert held.get(currency, Decimal(0)) == amount, currency
