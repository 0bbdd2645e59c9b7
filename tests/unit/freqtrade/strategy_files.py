"""Strategy files written for the adapter's tests: a good one, and each way to be bad.

Test modules here ``import strategy_files`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOOD = """
from freqtrade.strategy import (
    BooleanParameter, CategoricalParameter, DecimalParameter, IntParameter, IStrategy,
)
{imports}


class Good(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "5m"
    stoploss = -0.10
    minimal_roi = {{"0": 0.10}}
    buy_level = IntParameter(10, 40, default=30, space="buy")
    sell_margin = DecimalParameter(0.01, 0.10, default=0.05, decimals=2, space="sell")
    buy_mode = CategoricalParameter(["close", "open"], default="close", space="buy")
    buy_enabled = BooleanParameter(default=True, space="buy")
    buy_frozen = IntParameter(1, 5, default=2, space="buy", load=False)
{body}

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        column = dataframe[self.buy_mode.value]
        dataframe["enter_long"] = (column < self.buy_level.value).astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe
"""


def strategy_file(folder: Path, body: str = "", imports: str = "", name: str = "good.py") -> Path:
    """The good strategy, with ``body`` added to its class and ``imports`` to its module."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(GOOD.format(body=body, imports=imports))
    return path


def running(config: dict[str, Any]) -> Any:
    """The strategy Freqtrade would run for a rendered ``config``: loaded by its own
    resolver from the generated module, its parameters loaded (``ft_bot_start``)."""
    from freqtrade.enums import CandleType, RunMode
    from freqtrade.resolvers import StrategyResolver

    config = {
        **config,
        "user_data_dir": Path(config["user_data_dir"]),
        "runmode": RunMode.BACKTEST,
        "candle_type_def": CandleType.SPOT,
    }
    config.pop("log_config", None)
    strategy = StrategyResolver.load_strategy(config)
    strategy.ft_bot_start()
    return strategy
