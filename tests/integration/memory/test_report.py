"""``bulkhead report`` on a real memory: the numbers of ``analytics.metrics`` over what the
bot recorded, as a table for people and JSON for machines, several bots side by side."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.memory.records import TradeRecord
from bulkhead.memory.store import MemoryStore

DAY = 86_400_000
T0 = 1_795_824_000_000  # 2026-11-28 00:00 UTC


def _record(client: redis.Redis, bot: str, make_trade: Callable[..., TradeRecord]) -> None:
    store = MemoryStore(client, bot)
    store.record_regime(1, "high")  # as the guard records each entry's regime
    store.record_regime(2, "high")
    trades = [
        make_trade(1, T0, T0 + 3_600_000, pnl=2.0),
        make_trade(2, T0 + DAY, T0 + DAY + 3_600_000, pnl=-1.0),
        make_trade(3, T0 + 2 * DAY, T0 + 2 * DAY + 3_600_000, pnl=0.5),
        make_trade(4, T0 + 3 * DAY),  # still open: not in the metrics
    ]
    store.record_many([], trades)


def test_report_prints_the_metrics_and_breakdowns_of_each_bot(
    client: redis.Redis, make_trade: Callable[..., TradeRecord], two_bot_spec: Path
) -> None:
    _record(client, "alpha", make_trade)
    runner, app = CliRunner(), build_app()

    table = runner.invoke(app, ["report", "alpha", "beta", "--spec", str(two_bot_spec)])
    data = runner.invoke(app, ["report", "alpha", "--spec", str(two_bot_spec), "--format", "json"])

    assert table.exit_code == 0, table.output
    assert "alpha: 3 closed trades over 2.0 days" in table.output
    assert "2 won, 0 even, 1 lost; win rate 66.67%" in table.output
    assert "profit factor 2.50" in table.output
    assert "beta: 0 closed trades" in table.output
    assert "by pair" in table.output
    # no candles of 2026 anywhere: the benchmarks say so instead of guessing
    assert "vs BTC/USDT   buy-and-hold unavailable: no candles in" in table.output
    assert "vs XRP/USDT   buy-and-hold unavailable: candles do not cover the window" in (
        table.output
    )
    assert "patterns    none beyond chance (groups of at least 20 trades" in table.output
    report = json.loads(data.output)
    assert report["metrics"]["trades"] == 3
    assert report["metrics"]["net_pnl"] == pytest.approx(1.5)
    assert report["metrics"]["profit_factor"] == pytest.approx(2.5)
    assert report["breakdowns"]["exit_reason"][0]["key"] == "roi"
    regimes = {g["key"]: g["trades"] for g in report["breakdowns"]["regime"]}
    assert regimes == {"high": 2, "unknown": 1}
    assert "by regime" in table.output
    # Freqtrade's own definitions beside the textbook ones, labelled
    assert "(Freqtrade's definitions, as in its reports)" in table.output
    assert report["freqtrade"]["profit_factor"] == pytest.approx(2.5)
    assert report["freqtrade"]["sharpe"] != report["metrics"]["sharpe"]


def test_report_since_keeps_the_later_trades_and_bad_input_is_refused(
    client: redis.Redis, make_trade: Callable[..., TradeRecord], two_bot_spec: Path
) -> None:
    _record(client, "alpha", make_trade)
    runner, app = CliRunner(), build_app()

    later = runner.invoke(
        app,
        [
            "report",
            "alpha",
            "--spec",
            str(two_bot_spec),
            "--since",
            "2026-11-29",
            "--format",
            "json",
        ],
    )
    bad_since = runner.invoke(
        app, ["report", "alpha", "--spec", str(two_bot_spec), "--since", "soon"]
    )
    bad_format = runner.invoke(
        app, ["report", "alpha", "--spec", str(two_bot_spec), "--format", "pdf"]
    )
    unknown = runner.invoke(app, ["report", "nobody", "--spec", str(two_bot_spec)])

    assert later.exit_code == 0, later.output
    assert json.loads(later.output)["metrics"]["trades"] == 2
    spec = ["--spec", str(two_bot_spec)]
    window = runner.invoke(
        app, ["report", "alpha", *spec, "--since", "2026-11-29", "--until", "2026-11-30",
              "--format", "json"]
    )  # fmt: skip
    assert json.loads(window.output)["metrics"]["trades"] == 1
    backwards = runner.invoke(
        app, ["report", "alpha", *spec, "--since", "2026-11-30", "--until", "2026-11-29"]
    )
    assert backwards.exit_code != 0
    assert "--until must come after --since" in backwards.output
    assert bad_since.exit_code != 0
    assert "give a date (2026-01-31) or an age (7d, 12h, 30m)" in bad_since.output
    assert bad_format.exit_code != 0
    assert "choose table, json or html" in bad_format.output
    assert unknown.exit_code != 0
    assert "Traceback" not in unknown.output
