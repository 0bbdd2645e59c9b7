"""TwinScalper: a strategy that trades as often as it can, to rehearse a bot on the twin.

It exists to make a live Freqtrade run against the KuCoin twin produce a full round trip
(entry fill, exit fill) within a couple of minutes, so end-to-end tests and demos exercise
orders, fills, balances and the trade database. It has no edge and is not meant to earn
anything: it buys whenever it holds nothing and sells a minute later at whatever price.
Never run it with real money.
"""

from __future__ import annotations

from typing import Any, ClassVar

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class TwinScalper(IStrategy):
    INTERFACE_VERSION = 3

    timeframe = "1m"
    can_short = False
    # Take 0.1 % at once, else leave after one minute at any price (-1: any result will do).
    minimal_roi: ClassVar[dict[str, float]] = {"0": 0.001, "1": -1}
    stoploss = -0.05
    trailing_stop = False
    # Decide on every loop, not once per candle, so the entry comes seconds after start.
    process_only_new_candles = False
    use_exit_signal = False
    startup_candle_count = 1

    def populate_indicators(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        # Every candle: Freqtrade opens at most max_open_trades, so this means "whenever
        # flat". (No volume filter: a replayed recording may hold zero-volume gaps.)
        dataframe["enter_long"] = 1
        dataframe["enter_tag"] = "rehearsal"
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict[str, Any]) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
