"""strategy.params change what the running strategy does: Freqtrade's sample strategy, run
as a bot would run it (its generated module and parameter file, loaded by Freqtrade's own
resolver), signals differently on the bundled XRP/USDT recording when buy_rsi changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bulkhead.config.loader import parse_fleet
from bulkhead.config.workspace import BotPaths
from bulkhead.freqtrade.stack import MODULE_NAME, prepare

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "bulkhead.yaml"
RECORDING = ROOT / "data" / "ohlcv" / "XRP_USDT-5m.feather"


def running(params: dict[str, Any], folder: Path) -> Any:
    """SampleStrategy as the bot runs it with ``params``."""
    from freqtrade.enums import CandleType, RunMode
    from freqtrade.resolvers import StrategyResolver

    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(
        timeframe="5m", strategy={"name": "SampleStrategy", "params": params}
    )
    stack = prepare(parse_fleet(document).bots[0], EXAMPLE.parent)
    config = stack.render(BotPaths(folder))
    config.pop("log_config")
    config.update(
        user_data_dir=Path(config["user_data_dir"]),
        runmode=RunMode.BACKTEST,
        candle_type_def=CandleType.SPOT,
    )
    strategy = StrategyResolver.load_strategy(config)
    strategy.ft_bot_start()
    return strategy


def entries(strategy: Any) -> int:
    candles = pd.read_feather(RECORDING)
    analysed = strategy.advise_entry(
        strategy.advise_indicators(candles, {"pair": "XRP/USDT"}), {"pair": "XRP/USDT"}
    )
    return int(analysed["enter_long"].fillna(0).sum())


def test_a_param_changes_the_entry_signals_of_the_running_strategy(tmp_path: Path):
    default = running({}, tmp_path / "default")
    eager = running({"buy_rsi": 45}, tmp_path / "eager")

    assert default.buy_rsi.value == 30
    assert eager.buy_rsi.value == 45
    assert entries(eager) > entries(default) > 0


def test_roi_params_reach_the_running_strategy_through_freqtrades_parameter_file(
    tmp_path: Path,
):
    strategy = running({"minimal_roi": {"0": 0.05, "20": 0.01}, "buy_rsi": 40}, tmp_path)

    assert strategy.minimal_roi == {0: 0.05, 20: 0.01}
    written = json.loads(
        (tmp_path / "user_data" / "strategies" / f"{MODULE_NAME}.json").read_text()
    )
    assert written == {
        "strategy_name": "SampleStrategy",
        "params": {"buy": {"buy_rsi": 40}, "roi": {"0": 0.05, "20": 0.01}},
        "ft_stratparam_v": 1,
    }
