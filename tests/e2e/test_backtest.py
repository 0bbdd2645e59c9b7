"""``bulkhead backtest`` is Freqtrade's own backtesting: by hand, on its config, same trades.

A twin (examples/sim.yaml) on a background thread stands in for KuCoin, which a backtest
asks only for its markets (precision, minimums, fees). The bot runs a strategy file the
test writes beside the spec (5m candles: in on a dip below a moving average, out at a
small profit or a stop-loss, a ``custom_stake_amount`` of its own and a parameter the
spec sets), with the example's protections on, on the bundled XRP/USDT recording
(data/ohlcv) over a timerange. ``python -m bulkhead backtest`` runs as an operator would
type it; then ``freqtrade backtesting`` runs by hand on the config it says it used (the
"by hand" line of its summary), into a results folder of its own and never from a cache.
Both exports must hold the same trades, field by field.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botkit
import pytest
import yaml
from freqtrade.data.btanalysis import get_latest_backtest_filename, load_backtest_stats

from bulkhead.config.guard_rules import VolatilityRules
from bulkhead.sim.server import TwinServer, prepare

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sim.yaml"
SPEC_EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
FREQTRADE = Path(sys.executable).with_name("freqtrade")
BOT = "bot1"
PAIR = "XRP/USDT"
#: inside the bundled recording (data/ohlcv/XRP_USDT-5m.feather: 2021-11-15 to 11-21)
TIMERANGE = "20211115-20211121"
BUDGET = 100
#: the budget is split into this many stakes; the bot trades one pair, so it holds at most
#: one trade at a time, and a third of the budget leaves room for losses (Freqtrade enters
#: only while the balance covers the whole stake, before the strategy asks for less)
MAX_OPEN_TRADES = 3
#: the strategy's stake fraction (its custom_stake_amount), as the spec sets it
STAKE_FRACTION = 0.5
MIN_TRADES = 10
COMMAND_TIMEOUT_S = 180

STRATEGY_FILE = "strategies/dip_buyer.py"
STRATEGY_CLASS = "DipBuyer"
STRATEGY_SOURCE = textwrap.dedent(
    """
    \"\"\"A user's own strategy: in on a dip below the moving average, out at a small profit.\"\"\"

    from freqtrade.strategy import DecimalParameter, IntParameter, IStrategy


    class DipBuyer(IStrategy):
        INTERFACE_VERSION = 3
        timeframe = "5m"
        can_short = False
        minimal_roi = {"0": 0.006, "60": 0.002}
        stoploss = -0.02
        startup_candle_count = 30
        window = IntParameter(5, 50, default=20, space="buy")
        dip = DecimalParameter(0.001, 0.02, default=0.01, decimals=3, space="buy")
        stake_fraction = DecimalParameter(0.1, 1.0, default=1.0, decimals=2, space="buy")

        def populate_indicators(self, dataframe, metadata):
            for window in range(5, 51):
                dataframe[f"mean_{window}"] = dataframe["close"].rolling(window).mean()
            return dataframe

        def populate_entry_trend(self, dataframe, metadata):
            mean = dataframe[f"mean_{self.window.value}"]
            dataframe["enter_long"] = (dataframe["close"] < mean * (1 - self.dip.value)).astype(int)
            dataframe["enter_tag"] = "dip"
            return dataframe

        def populate_exit_trend(self, dataframe, metadata):
            dataframe["exit_long"] = 0
            return dataframe

        def custom_stake_amount(
            self, pair, current_time, current_rate, proposed_stake, min_stake, max_stake,
            leverage, entry_tag, side, **kwargs,
        ):
            return proposed_stake * self.stake_fraction.value
    """
)


@dataclass
class Backtested:
    """The bot's backtest through Bulkhead, and what it printed."""

    root: Path
    spec: Path
    done: subprocess.CompletedProcess[str]
    took_s: float
    #: the config the summary says to run by hand, and the result file it names
    config: Path
    result: Path


def _write_spec(directory: Path, twin_url: str) -> Path:
    strategy = directory / STRATEGY_FILE
    strategy.parent.mkdir(parents=True)
    strategy.write_text(STRATEGY_SOURCE)
    document = yaml.safe_load(SPEC_EXAMPLE.read_text())
    (bot,) = document["bots"]
    assert bot["name"] == BOT, bot
    bot["exchange"] = {"target": twin_url}
    bot["budget"] = {"amount": BUDGET, "currency": "USDT"}
    bot["pairs"] = [PAIR]
    bot["timeframe"] = "5m"
    bot["max_open_trades"] = MAX_OPEN_TRADES
    bot["strategy"] = {
        "file": STRATEGY_FILE,
        "class": STRATEGY_CLASS,
        "params": {"window": 12, "dip": 0.004, "stake_fraction": STAKE_FRACTION},
    }
    # The example's protections stay on: a backtest applies them as the bot would.
    assert any(p.get("enabled") for p in bot["protections"].values()), bot["protections"]
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "bulkhead.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def _named(stdout: str, label: str) -> str:
    """What the summary line starting with ``label`` says after it."""
    for line in stdout.splitlines():
        if line.strip().startswith(label):
            return line.strip().removeprefix(label).strip()
    pytest.fail(f"no {label!r} line in the output:\n{stdout}")


@pytest.fixture(scope="module")
def backtested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backtested]:
    """``bulkhead backtest BOT`` on the bundled recording, the twin still serving after."""
    root = tmp_path_factory.mktemp("backtest")
    prepared = prepare(SCENARIO, credentials_out=root / "twin-creds.json")
    with TwinServer(prepared.twin) as server:
        spec = _write_spec(root / "deployment", server.url)
        started = time.monotonic()
        done = botkit.cli(
            spec, "backtest", BOT, "--timerange", TIMERANGE, timeout=COMMAND_TIMEOUT_S
        )
        took = time.monotonic() - started
        print(f"bulkhead backtest took {took:.1f} s")
        assert done.returncode == 0, botkit.shown(done)
        by_hand = _named(done.stdout, "by hand")
        prefix = "freqtrade backtesting --config "
        assert by_hand.startswith(prefix), by_hand
        yield Backtested(
            root=root,
            spec=spec,
            done=done,
            took_s=took,
            config=Path(by_hand.removeprefix(prefix)),
            result=Path(_named(done.stdout, "results")),
        )


def _run(result: Path) -> dict[str, Any]:
    """The one strategy's run in an exported backtest result."""
    ((_, run),) = load_backtest_stats(result)["strategy"].items()
    found: dict[str, Any] = run
    return found


def _trades(result: Path) -> tuple[str, list[dict[str, Any]]]:
    """The strategy and the trades of one exported backtest result."""
    ((strategy, run),) = load_backtest_stats(result)["strategy"].items()
    return strategy, run["trades"]


def _freqtrade_by_hand(backtested: Backtested, export_dir: Path) -> Path:
    """``freqtrade backtesting`` on the config Bulkhead used, as a user would type it; the
    result file it exported."""
    export_dir.mkdir()
    command = [
        str(FREQTRADE),
        "backtesting",
        "--config",
        str(backtested.config),
        "--timerange",
        TIMERANGE,
        "--export",
        "trades",
        "--backtest-directory",
        str(export_dir),
        "--cache",
        "none",
    ]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=backtested.root,  # not the bot's folder: the config must say it all
        env=botkit.environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    print(f"freqtrade backtesting by hand took {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, botkit.shown(done)
    return export_dir / str(get_latest_backtest_filename(export_dir))


#: the guard's stake multiplier in the high-volatility regime (the spec's default)
HIGH_VOLATILITY_SCALE = VolatilityRules().high_stake_scale


def test_bulkhead_backtest_reports_the_bots_strategy_on_the_recording(
    backtested: Backtested,
) -> None:
    out = backtested.done.stdout
    assert backtested.config.is_file()
    assert backtested.config.is_relative_to(backtested.spec.parent / ".bulkhead")
    assert backtested.result.is_file()
    assert f"{STRATEGY_FILE}:{STRATEGY_CLASS}" in out
    assert f"{PAIR} 5m: recording" in out

    strategy, trades = _trades(backtested.result)
    assert strategy == STRATEGY_CLASS
    assert len(trades) >= MIN_TRADES, f"too few trades to compare: {len(trades)}"
    assert f"trades      {len(trades)}: " in out
    # The strategy's own custom_stake_amount ran, with the spec's stake_fraction (not its
    # default 1.0), under Bulkhead's stake cap.
    assert {t["pair"] for t in trades} == {PAIR}
    assert {t["enter_tag"] for t in trades} == {"dip"}
    stake_per_trade = json.loads(backtested.config.read_text())["stake_amount"]
    assert stake_per_trade <= BUDGET / MAX_OPEN_TRADES
    # ... or half of it, where the risk guard found the market in its high-volatility regime
    full = STAKE_FRACTION * stake_per_trade
    scale = HIGH_VOLATILITY_SCALE
    for trade in trades:
        assert trade["stake_amount"] in (
            pytest.approx(full, rel=1e-3),
            pytest.approx(full * scale, rel=1e-3),
        ), trade
    assert any(t["stake_amount"] == pytest.approx(full, rel=1e-3) for t in trades)
    # The summary says how often each of the guard's rules fired on this history.
    guard_lines = [line for line in out.splitlines() if line.startswith("  risk guard  ")]
    assert len(guard_lines) == 1, out[-2000:]
    assert "entries allowed" in guard_lines[0]
    if any(t["stake_amount"] != pytest.approx(full, rel=1e-3) for t in trades):
        assert "stakes cut" in guard_lines[0], guard_lines[0]
        assert "VOLATILITY_HIGH" in guard_lines[0], guard_lines[0]
    # The protections acted (the cooldown after each exit at least).
    assert _run(backtested.result)["locks"], "no protection ever locked trading"


def test_freqtrade_by_hand_on_the_rendered_config_gives_the_same_trades(
    backtested: Backtested,
) -> None:
    result = _freqtrade_by_hand(backtested, backtested.root / "by-hand")
    assert result != backtested.result

    bulkhead_strategy, bulkhead_trades = _trades(backtested.result)
    hand_strategy, hand_trades = _trades(result)

    assert hand_strategy == bulkhead_strategy
    assert len(hand_trades) == len(bulkhead_trades) >= MIN_TRADES
    key_fields = (
        "pair",
        "open_date",
        "close_date",
        "open_rate",
        "close_rate",
        "amount",
        "stake_amount",
        "profit_abs",
        "profit_ratio",
        "exit_reason",
    )
    for hand, ours in zip(hand_trades, bulkhead_trades, strict=True):
        assert {k: hand[k] for k in key_fields} == {k: ours[k] for k in key_fields}
    # ... and every other field Freqtrade exports too (orders, fees, stops, ...).
    assert hand_trades == bulkhead_trades
    # The protections locked trading at the same times.
    assert _run(result)["locks"] == _run(backtested.result)["locks"]


def test_freqtrade_compatible_metrics_match_freqtrades_own_report_on_the_same_trades(
    backtested: Backtested,
) -> None:
    """The report's Freqtrade-compatible values, fed the backtest's own trades, equal the
    numbers in Freqtrade's backtest statistics; the textbook values are computed beside."""
    from datetime import UTC, datetime

    from bulkhead.analytics.freqtrade_compat import freqtrade_numbers
    from bulkhead.analytics.metrics import compute
    from bulkhead.analytics.trades import Trades

    run = _run(backtested.result)
    _, trades = _trades(backtested.result)
    columns = Trades.from_arrays(
        pnl=[t["profit_abs"] for t in trades],
        stake=[t["stake_amount"] for t in trades],
        open_ms=[t["open_timestamp"] for t in trades],
        close_ms=[t["close_timestamp"] for t in trades],
    )
    ours = freqtrade_numbers(
        columns,
        float(run["starting_balance"]),
        datetime.fromtimestamp(run["backtest_start_ts"] / 1000, UTC),
        datetime.fromtimestamp(run["backtest_end_ts"] / 1000, UTC),
    )

    for name in ("sharpe", "sortino", "calmar", "cagr", "expectancy", "expectancy_ratio",
                 "profit_factor", "max_drawdown_account"):  # fmt: skip
        assert getattr(ours, name) == pytest.approx(run[name], rel=1e-6, abs=1e-9), name
    textbook = compute(columns, float(run["starting_balance"]))
    assert textbook.net_pnl == pytest.approx(run["profit_total_abs"], rel=1e-9)
    assert textbook.trades == run["total_trades"]
