"""BulkheadStrategy: the base every bundled strategy extends, so each bot logs its decisions.

It hooks Freqtrade's own callbacks (``bot_start``, ``confirm_trade_entry``,
``confirm_trade_exit``, ``order_filled``) to turn each decision into one structured log
event, and takes its protections from the rendered config (Freqtrade only accepts them
from the strategy). The risk guard and the memory recorder attach to the same callbacks.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy

from bulkhead.logs import event
from bulkhead.memory.recorder import Recorder

logger = logging.getLogger("bulkhead.strategy")


class BulkheadStrategy(IStrategy):  # type: ignore[misc]  # freqtrade ships no type hints
    """Freqtrade strategy base with decision logging and config-driven protections."""

    @property
    def protections(self) -> list[dict[str, Any]]:
        section: dict[str, Any] = self.config.get("bulkhead", {})
        return list(section.get("protections", []))

    _recorder: Recorder | None = None

    def _remember(self, name: str, **data: Any) -> None:
        if self._recorder is not None:
            self._recorder.on_event(name, data)

    def _decide(self, name: str, log_only: dict[str, Any], **fields: Any) -> None:
        """Log a decision with all it knows; remember the part worth learning from.

        Order mechanics (``log_only``) belong in the audit log, not in the bot's memory.
        """
        event(logger, name, **fields, **log_only)
        self._remember(name, **fields)

    def bot_start(self, **kwargs: Any) -> None:
        section = self.config.get("bulkhead", {})
        self._recorder = Recorder.from_environment(str(section.get("bot", "bot")))
        if self._recorder is None:
            event(logger, "memory_off", reason="no memory configured for this bot")
        event(
            logger,
            "strategy_start",
            strategy=type(self).__name__,
            budget=section.get("budget"),
            stake_amount=self.config.get("stake_amount"),
            max_open_trades=self.config.get("max_open_trades"),
            dry_run=self.config.get("dry_run"),
            protections=[p["method"] for p in self.protections],
        )

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        if self._recorder is None:
            return
        equity = None
        if self.wallets is not None:
            equity = float(self.wallets.get_total_stake_amount())
        self._recorder.on_loop(lambda: Trade.get_trades_proxy(), equity)

    def confirm_trade_entry(
        self,
        pair: str,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        current_time: datetime,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> bool:
        self._decide(
            "entry_signal",
            {"order_type": order_type, "stake": amount * rate},
            pair=pair,
            side=side,
            reason=entry_tag or "signal",
            amount=amount,
            rate=rate,
            decision="allow",
        )
        return True

    def confirm_trade_exit(
        self,
        pair: str,
        trade: Trade,
        order_type: str,
        amount: float,
        rate: float,
        time_in_force: str,
        exit_reason: str,
        current_time: datetime,
        **kwargs: Any,
    ) -> bool:
        self._decide(
            "exit_signal",
            {"order_type": order_type},
            pair=pair,
            trade_id=trade.id,
            reason=exit_reason,
            amount=amount,
            rate=rate,
            decision="allow",
        )
        return True

    def order_filled(
        self, pair: str, trade: Trade, order: Order, current_time: datetime, **kwargs: Any
    ) -> None:
        event(
            logger,
            "order_filled",
            pair=pair,
            trade_id=trade.id,
            order_id=order.order_id,
            side=order.ft_order_side,
            order_type=order.order_type,
            amount=order.safe_filled,
            price=order.safe_price,
            cost=order.safe_cost,
            fee_base=order.safe_fee_base,
            fee_open_cost=trade.fee_open_cost,
            fee_close_cost=trade.fee_close_cost,
        )
        if self._recorder is not None:
            self._recorder.on_fill(trade, order)
