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


class Candles:
    """Stands in for Freqtrade's DataProvider: each pair's analyzed candles (tested against
    the real one in the backtest and end-to-end tests)."""

    def __init__(self, frames: dict[str, Any] | None = None, default: Any = None) -> None:
        self.frames = frames or {}
        self.default = default

    def get_analyzed_dataframe(self, pair: str, timeframe: str) -> tuple[Any, Any]:
        frame = self.frames.get(pair, self.default)
        return frame, None


def candles(
    end: Any,
    count: int = 400,
    minutes: int = 5,
    volatility: float = 0.002,
    last_move: float | None = None,
    volume: float = 100.0,
    seed: int = 7,
) -> Any:
    """``count`` candles of a random walk whose last one opened ``minutes`` before
    ``end``; ``last_move`` replaces the last ``minutes`` log returns' scale (a crash, a calm)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    returns = rng.normal(0, volatility, count)
    if last_move is not None:
        returns[-30:] = rng.normal(0, last_move, 30)
    closes = 1.0 * np.exp(np.cumsum(returns))
    dates = pd.date_range(
        end=end - pd.Timedelta(minutes=minutes), periods=count, freq=f"{minutes}min"
    )
    return pd.DataFrame(
        {
            "date": dates,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": np.full(count, volume),
        }
    )
