"""BulkheadLayer: Bulkhead's callbacks, layered over any Freqtrade strategy.

The running strategy of every bot is a generated subclass ``class S(BulkheadLayer, User)``
(see ``stack``), so each callback here runs first, calls the strategy's own override
through ``super()`` and then has the last word:

- ``confirm_trade_entry`` / ``confirm_trade_exit``: the strategy's answer stands when it
  says no; each decision is logged as one event and remembered in the bot's memory.
- ``custom_stake_amount``: the strategy's stake, capped at the bot's per-trade stake.
- ``bot_start``, ``bot_loop_start``, ``order_filled``: the memory recorder.
- the risk guard (``bulkhead.guard``): ``bot_loop_start`` runs its account rules (drawdown,
  daily and weekly loss) that set the trading state at the gateway; ``confirm_trade_entry``
  asks it about each entry (state, loss streak, market data, volatility regime);
  ``custom_stake_amount`` takes its size (regime scale, per-trade and per-pair caps). A
  strategy callback that keeps raising counts toward its critical-error rule.
- ``protections``: the spec's protections (Freqtrade takes them only from the strategy),
  then the strategy's own.

A strategy callback that raises is answered as Freqtrade would answer it (its default),
and logged; Bulkhead's own decision still comes after it. The risk guard attaches here.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy

from bulkhead.freqtrade import guarding
from bulkhead.guard.directives import Directives
from bulkhead.guard.engine import Guard
from bulkhead.logs import event
from bulkhead.memory.recorder import Recorder

logger = logging.getLogger("bulkhead.strategy")
#: how often the advisor's and operator's directives are read from memory
DIRECTIVES_EVERY_S = 10.0


class BulkheadLayer(IStrategy):  # type: ignore[misc]  # freqtrade ships no type hints
    """Decision logging, memory recording and the stake cap over the strategy below it."""

    _bulkhead_recorder: Recorder | None = None
    _bulkhead_guard: Guard | None = None
    _bulkhead_directives_at: float = float("-inf")

    # -- settings from the rendered config ----------------------------------------------

    @property
    def _bulkhead(self) -> dict[str, Any]:
        section: dict[str, Any] = self.config.get("bulkhead", {})
        return section

    @property
    def protections(self) -> list[dict[str, Any]]:
        own = getattr(super(), "protections", None)
        return [*self._bulkhead.get("protections", []), *(own if isinstance(own, list) else [])]

    @property
    def _stake_cap(self) -> float | None:
        cap = self._bulkhead.get("stake_per_trade")
        return float(cap) if cap is not None else None

    # -- helpers --------------------------------------------------------------------------

    def _decide(self, name: str, log_only: dict[str, Any], **fields: Any) -> None:
        """Log a decision with all it knows; remember the part worth learning from.

        Order mechanics (``log_only``) belong in the audit log, not in the bot's memory.
        """
        event(logger, name, **fields, **log_only)
        if self._bulkhead_recorder is not None:
            self._bulkhead_recorder.on_event(name, fields)

    def _strategy_failed(self, callback: str, error: Exception) -> None:
        event(
            logger,
            "strategy_callback_failed",
            logging.ERROR,
            callback=callback,
            error=type(error).__name__,
            detail=str(error)[:200],
        )
        if self._bulkhead_guard is not None:
            self._bulkhead_guard.record_error("strategy", f"{callback}: {type(error).__name__}")

    def _guard_event(self, name: str, fields: dict[str, Any]) -> None:
        """A guard decision: in the log, and in memory (where ``bulkhead guard`` reads it)."""
        level = logging.WARNING if fields.get("decision") in ("deny", "state") else logging.INFO
        if name == "guard_alert":
            level = logging.ERROR
        event(logger, name, level, **fields)
        routine = name == "guard_decision" and fields.get("decision") == "allow"
        if self._bulkhead_recorder is not None and not routine:  # allows are in entry_signal
            self._bulkhead_recorder.on_event(name, fields)
        if name == "guard_insight" and self._bulkhead_recorder is not None:
            self._remember_insight(fields)

    def _remember_regime(self, pair: str, trade_id: int) -> None:
        """The regime the trade entered in (its first entry fill), for the guard's insights
        and the report's breakdown by regime."""
        guard = self._bulkhead_guard
        if guard is None or trade_id in guard.trade_regimes:
            return
        regime = guard.regime_of(pair)
        guard.trade_regimes[trade_id] = regime
        if self._bulkhead_recorder is None:
            return
        try:
            self._bulkhead_recorder.store().record_regime(trade_id, regime)
        except Exception as error:  # memory down: the report will say "unknown"
            event(logger, "regime_unrecorded", logging.WARNING, error=str(error)[:200])

    def _remember_insight(self, fields: dict[str, Any]) -> None:
        """An insight, with its evidence, among the bot's insights in memory (it expires
        with its pause, or after a day)."""
        recorder = self._bulkhead_recorder
        assert recorder is not None
        try:
            recorder.store().add_insight(
                str(fields["text"]),
                source="guard",
                evidence={"id": fields["insight"], **fields.get("evidence", {})},
                ttl_days=max(1.0, self._bulkhead_guard.rules.insights.pause_hours / 24)
                if self._bulkhead_guard is not None
                else 1.0,
            )
        except Exception as error:  # memory down: the decision stands, the record waits
            event(logger, "insight_unrecorded", logging.WARNING, error=str(error)[:200])

    def _follow_directives(self, guard: Guard) -> None:
        """Every ``DIRECTIVES_EVERY_S``, the restraints in memory (``bh:{bot}:directives``);
        memory down: the last ones read stay."""
        recorder, now = self._bulkhead_recorder, time.monotonic()
        if recorder is None or now < self._bulkhead_directives_at:
            return
        self._bulkhead_directives_at = now + DIRECTIVES_EVERY_S
        try:
            store = recorder.store()
            raw = store.client.get(store.keys.directives)
        except Exception as error:
            event(logger, "directives_unread", logging.WARNING, error=str(error)[:200])
            return
        guard.follow(Directives.from_json(raw))

    def _guard_loop(self, current_time: datetime) -> None:
        guard = self._bulkhead_guard
        if guard is None:
            return
        self._follow_directives(guard)
        profits, last, closed = guarding.closed_results(guard.trade_regimes)
        if guard.learning_due(current_time):
            guard.learn(current_time, closed)
        value = guarding.equity(guard.budget, profits, guarding.last_close(self.dp, self.timeframe))
        guard.on_loop(current_time, value, profits, last)

    # -- callbacks ------------------------------------------------------------------------

    def bot_start(self, **kwargs: Any) -> None:
        section = self._bulkhead
        self._bulkhead_recorder = Recorder.from_environment(str(section.get("bot", "bot")))
        if self._bulkhead_recorder is None:
            event(logger, "memory_off", reason="no memory configured for this bot")
        self._bulkhead_guard = guarding.build_guard(
            self.config, self.timeframe, self._bulkhead_recorder, self._guard_event
        )
        if self._bulkhead_guard is not None and self._bulkhead_recorder is not None:
            try:  # the regimes of the trades before this start, for the insights
                self._bulkhead_guard.trade_regimes.update(self._bulkhead_recorder.store().regimes())
            except Exception as error:
                event(logger, "regimes_unread", logging.WARNING, error=str(error)[:200])
        event(
            logger,
            "strategy_start",
            strategy=type(self).__name__,
            source=section.get("strategy"),
            budget=section.get("budget"),
            stake_amount=self.config.get("stake_amount"),
            max_open_trades=self.config.get("max_open_trades"),
            dry_run=self.config.get("dry_run"),
            protections=[p["method"] for p in self.protections],
        )
        super().bot_start(**kwargs)

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        if self._bulkhead_recorder is not None:
            equity = None
            if self.wallets is not None:
                equity = float(self.wallets.get_total_stake_amount())
            self._bulkhead_recorder.on_loop(lambda: Trade.get_trades_proxy(), equity)
        self._guard_loop(current_time)
        super().bot_loop_start(current_time=current_time, **kwargs)

    def custom_stake_amount(
        self,
        pair: str,
        current_time: datetime,
        current_rate: float,
        proposed_stake: float,
        min_stake: float | None,
        max_stake: float,
        leverage: float,
        entry_tag: str | None,
        side: str,
        **kwargs: Any,
    ) -> float:
        try:
            wanted = super().custom_stake_amount(
                pair=pair,
                current_time=current_time,
                current_rate=current_rate,
                proposed_stake=proposed_stake,
                min_stake=min_stake,
                max_stake=max_stake,
                leverage=leverage,
                entry_tag=entry_tag,
                side=side,
                **kwargs,
            )
            stake = float(wanted)
        except Exception as error:  # the strategy's bug: Freqtrade's default, then ours
            self._strategy_failed("custom_stake_amount", error)
            stake = float(proposed_stake)
        cap = self._stake_cap
        if cap is not None and stake > cap:
            event(logger, "stake_capped", pair=pair, wanted=stake, cap=cap)
            stake = cap
        if self._bulkhead_guard is not None:
            stake = self._bulkhead_guard.size(pair, stake, guarding.open_stake(pair))
        return stake

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
        try:
            allowed = bool(
                super().confirm_trade_entry(
                    pair=pair,
                    order_type=order_type,
                    amount=amount,
                    rate=rate,
                    time_in_force=time_in_force,
                    current_time=current_time,
                    entry_tag=entry_tag,
                    side=side,
                    **kwargs,
                )
            )
        except Exception as error:  # Freqtrade's default answer is True
            self._strategy_failed("confirm_trade_entry", error)
            allowed = True
        decided_by, guard_reason, regime = "bulkhead" if allowed else "strategy", "", ""
        guard = self._bulkhead_guard
        if allowed and guard is not None:
            times, volumes, closes = guarding.candles(
                getattr(self, "dp", None), pair, self.timeframe, guard.closes_needed
            )
            verdict = guard.check_entry(pair, current_time, times, volumes, closes)
            regime = verdict.regime.value
            if not verdict.allowed:
                allowed, decided_by, guard_reason = False, "guard", verdict.reason
        self._decide(
            "entry_signal",
            {"order_type": order_type, "stake": amount * rate},
            pair=pair,
            side=side,
            reason=entry_tag or "signal",
            amount=amount,
            rate=rate,
            decision="allow" if allowed else "deny",
            decided_by=decided_by,
            **({"guard_reason": guard_reason} if guard_reason else {}),
            **({"regime": regime} if regime else {}),
        )
        return allowed

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
        try:
            allowed = bool(
                super().confirm_trade_exit(
                    pair=pair,
                    trade=trade,
                    order_type=order_type,
                    amount=amount,
                    rate=rate,
                    time_in_force=time_in_force,
                    exit_reason=exit_reason,
                    current_time=current_time,
                    **kwargs,
                )
            )
        except Exception as error:  # Freqtrade's default answer is True
            self._strategy_failed("confirm_trade_exit", error)
            allowed = True
        self._decide(
            "exit_signal",
            {"order_type": order_type},
            pair=pair,
            trade_id=trade.id,
            reason=exit_reason,
            amount=amount,
            rate=rate,
            decision="allow" if allowed else "deny",
            decided_by="bulkhead" if allowed else "strategy",
        )
        return allowed

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
        if self._bulkhead_recorder is not None:
            self._bulkhead_recorder.on_fill(trade, order)
        if order.ft_order_side == trade.entry_side:
            self._remember_regime(pair, int(trade.id))
        super().order_filled(
            pair=pair, trade=trade, order=order, current_time=current_time, **kwargs
        )
