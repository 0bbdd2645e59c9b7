"""The running strategy is the user's class under Bulkhead's layer: both have their say,
Bulkhead's last. Loaded here exactly as Freqtrade loads it (its resolver, the generated
module in the bot's user_data/strategies/)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import strategy_files
import yaml

from bulkhead.config.loader import parse_fleet
from bulkhead.config.workspace import BotPaths
from bulkhead.freqtrade.loading import StrategySource
from bulkhead.freqtrade.stack import MODULE_NAME, Stack

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
NOW = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)

OVERRIDES = """
    protections = [{"method": "CooldownPeriod", "stop_duration_candles": 7}]
    started = False

    def bot_start(self, **kwargs):
        self.started = True

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force,
                            current_time, entry_tag, side, **kwargs):
        if pair == "BUG/USDT":
            raise ValueError("the strategy's own bug")
        return pair != "NO/USDT"

    def confirm_trade_exit(self, pair, trade, order_type, amount, rate, time_in_force,
                           exit_reason, current_time, **kwargs):
        return exit_reason != "exit_signal"

    def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake,
                            min_stake, max_stake, leverage, entry_tag, side, **kwargs):
        if pair == "BIG/USDT":
            return 10_000.0
        if pair == "BUG/USDT":
            raise ValueError("the strategy's own bug")
        return 12.5
"""


class Remembered:
    """Stands in for the memory recorder (tested against real Redis in tests/integration)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_event(self, name: str, data: dict[str, Any]) -> None:
        self.events.append((name, data))


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Stack, dict[str, Any], BotPaths]:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0].update(timeframe="5m", max_open_trades=2)
    bot = parse_fleet(document).bots[0]
    path = strategy_files.strategy_file(tmp_path / "mine", body=OVERRIDES)
    stack = Stack(bot, StrategySource(path, "Good", "mine/good.py:Good", "x"), "Good")
    paths = BotPaths(tmp_path / "bot")
    return stack, stack.render(paths), paths


@pytest.fixture
def strategy(
    rendered: tuple[Stack, dict[str, Any], BotPaths], monkeypatch: pytest.MonkeyPatch
) -> Any:
    from freqtrade.persistence import Trade

    monkeypatch.setattr(Trade, "use_db", False)  # trades in memory, as in a backtest
    running = strategy_files.running(rendered[1])
    # fresh candles of an ordinary market for every pair: the guard lets entries through
    running.dp = strategy_files.Candles(default=strategy_files.candles(NOW))
    return running


def entry(strategy: Any, pair: str) -> bool:
    allowed: bool = strategy.confirm_trade_entry(
        pair=pair,
        order_type="market",
        amount=10.0,
        rate=0.5,
        time_in_force="GTC",
        current_time=NOW,
        entry_tag="signal",
        side="long",
    )
    return allowed


def stake(strategy: Any, pair: str) -> float:
    amount: float = strategy.custom_stake_amount(
        pair=pair,
        current_time=NOW,
        current_rate=0.5,
        proposed_stake=48.0,
        min_stake=1.0,
        max_stake=100.0,
        leverage=1.0,
        entry_tag=None,
        side="long",
    )
    return amount


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == name]


def test_the_running_class_is_the_users_class_under_the_layer(
    rendered: tuple[Stack, dict[str, Any], BotPaths], strategy: Any
):
    _, config, paths = rendered
    names = [f"{c.__module__}.{c.__name__}" for c in type(strategy).__mro__[:3]]

    assert names == [f"{MODULE_NAME}.Good", "bulkhead.freqtrade.layer.BulkheadLayer", "good.Good"]
    assert config["strategy"] == "Good"
    assert config["strategy_path"] == str(paths.user_data / "strategies")
    assert strategy.started, "the strategy's own bot_start must run"


def test_the_users_entry_veto_stands_and_is_logged_and_remembered(
    strategy: Any, caplog: pytest.LogCaptureFixture
):
    remembered = Remembered()
    strategy._bulkhead_recorder = remembered
    with caplog.at_level(logging.INFO, logger="bulkhead.strategy"):
        assert entry(strategy, "XRP/USDT") is True
        assert entry(strategy, "NO/USDT") is False

    decisions = [(r.pair, r.decision, r.decided_by) for r in events(caplog, "entry_signal")]  # type: ignore[attr-defined]
    assert decisions == [("XRP/USDT", "allow", "bulkhead"), ("NO/USDT", "deny", "strategy")]
    assert [(n, d["pair"], d["decision"]) for n, d in remembered.events] == [
        ("entry_signal", "XRP/USDT", "allow"),
        ("entry_signal", "NO/USDT", "deny"),
    ]


def test_a_failing_user_callback_gets_freqtrades_default_and_bulkhead_still_decides(
    strategy: Any, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="bulkhead.strategy"):
        assert entry(strategy, "BUG/USDT") is True
        assert stake(strategy, "BUG/USDT") == 48.0

    failures = [r.callback for r in events(caplog, "strategy_callback_failed")]  # type: ignore[attr-defined]
    assert failures == ["confirm_trade_entry", "custom_stake_amount"]
    assert len(events(caplog, "entry_signal")) == 1


def test_the_users_exit_veto_stands(strategy: Any):
    trade = SimpleNamespace(id=7)
    common = {"order_type": "market", "amount": 1.0, "rate": 1.0, "time_in_force": "GTC"}

    assert strategy.confirm_trade_exit(
        pair="XRP/USDT", trade=trade, exit_reason="roi", current_time=NOW, **common
    )
    assert not strategy.confirm_trade_exit(
        pair="XRP/USDT", trade=trade, exit_reason="exit_signal", current_time=NOW, **common
    )


def test_the_users_stake_is_kept_under_the_cap_and_capped_above_it(
    rendered: tuple[Stack, dict[str, Any], BotPaths],
    strategy: Any,
    caplog: pytest.LogCaptureFixture,
):
    cap = float(rendered[0].bot.stake_per_trade)
    assert cap == 48.48  # 100 USDT x 0.99 / 1.02102 (gateway worst case), two trades

    with caplog.at_level(logging.INFO, logger="bulkhead.strategy"):
        assert stake(strategy, "XRP/USDT") == 12.5
        assert stake(strategy, "BIG/USDT") == cap

    (capped,) = events(caplog, "stake_capped")
    assert (capped.wanted, capped.cap) == (10_000.0, cap)  # type: ignore[attr-defined]


def test_the_spec_protections_come_first_then_the_strategys_own(strategy: Any):
    methods = [p["method"] for p in strategy.protections]

    assert methods == ["StoplossGuard", "MaxDrawdown", "CooldownPeriod", "CooldownPeriod"]
    assert strategy.protections[-1]["stop_duration_candles"] == 7


def test_the_spec_stoploss_and_timeframe_are_what_runs(
    rendered: tuple[Stack, dict[str, Any], BotPaths], strategy: Any
):
    assert strategy.stoploss == rendered[0].bot.stoploss == -0.05
    assert strategy.timeframe == "5m"


def test_a_strategy_file_edited_since_the_check_is_refused_by_freqtrades_loader(
    rendered: tuple[Stack, dict[str, Any], BotPaths], caplog: pytest.LogCaptureFixture
):
    from freqtrade.exceptions import OperationalException

    stack, config, _ = rendered
    edited = stack.source.file.read_text().replace("stoploss = -0.10", "stoploss = -1")
    stack.source.file.write_text(edited)

    with pytest.raises(OperationalException, match="Impossible to load Strategy 'Good'"):
        strategy_files.running(config)
    assert "good.py changed since Bulkhead checked it: strategy: Good has no stop-loss" in (
        caplog.text
    )


def test_the_generated_module_is_valid_python_whatever_the_spec_calls_the_file(
    rendered: tuple[Stack, dict[str, Any], BotPaths],
):
    stack = rendered[0]
    odd = StrategySource(stack.source.file, "Good", 'we"""ird\\\\path.py:Good', "x")
    source = Stack(stack.bot, odd, "Good").module_source()

    compile(source, "bulkhead_stack.py", "exec")
    assert "The bot's strategy, we'''ird//path.py:Good, with" in source
