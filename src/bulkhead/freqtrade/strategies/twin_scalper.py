"""TwinScalper: a strategy that trades as often as it can, to rehearse a bot on the twin.

It exists so that a live Freqtrade run against the KuCoin twin produces a full round trip
(entry fill, then exit fill) within seconds, which lets end-to-end tests and demos
exercise orders, fills, stop orders, balances and the trade database. It has no edge and
is not meant to earn anything: it buys whenever it holds nothing and sells
``hold_seconds`` later at whatever price. Never run it with real money.

A plain Freqtrade strategy: Bulkhead's layer (decision logging, memory) goes over it as
over any other (see ``bulkhead.freqtrade.layer``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from freqtrade.persistence import Trade
from freqtrade.strategy import IntParameter, IStrategy
from pandas import DataFrame


class TwinScalper(IStrategy):  # type: ignore[misc]  # freqtrade ships no type hints
    INTERFACE_VERSION = 3

    timeframe = "1m"
    can_short = False
    #: Seconds to hold a position before ``custom_exit`` closes it at any price: a declared
    #: parameter, so ``strategy.params`` and the advisor can set it within its bounds.
    hold_seconds = IntParameter(3, 120, default=10, space="sell")
    # A backstop if custom_exit is switched off: take 0.1 % at once, else leave after a
    # minute at any price (-1: any result will do).
    minimal_roi: ClassVar[dict[str, float]] = {"0": 0.001, "1": -1}
    stoploss = -0.05
    trailing_stop = False
    # Decide on every loop, not once per candle, so the entry comes seconds after start.
    process_only_new_candles = False
    # Needed for custom_exit to be consulted; the exit column itself is always 0.
    use_exit_signal = True
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

    def custom_exit(
        self,
        pair: str,
        trade: Trade,
        current_time: datetime,
        current_rate: float,
        current_profit: float,
        **kwargs: Any,
    ) -> str | None:
        held = (current_time - trade.open_date_utc).total_seconds()
        return "rehearsal_done" if held >= self.hold_seconds.value else None
