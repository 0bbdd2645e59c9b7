"""The Freqtrade adapter: a bot's strategy loaded, checked and layered, its config rendered,
and Freqtrade's own backtesting of it.

- ``strategies/``: the bundled strategies, by name (an explicit registry).
- ``loading``: a strategy file imported and its class checked before any process starts.
- ``params``: ``strategy.params`` checked against the declared parameters and written as
  Freqtrade's parameter file.
- ``layer``: ``BulkheadLayer``, Bulkhead's callbacks over any strategy (decision logging,
  memory recording, stake cap; the risk guard's place).
- ``stack``: the generated strategy module and the rendered config that runs it.
- ``backtest``: ``bulkhead backtest``: data, Freqtrade's backtesting, a summary.

Nothing here imports Freqtrade at import time: a command that only reads the spec stays fast.
"""
