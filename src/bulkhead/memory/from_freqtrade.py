"""Turn Freqtrade's own trade and order rows into memory records.

Freqtrade's database is the source of truth for what was traded; memory is a copy the
bot can read fast and keep after Freqtrade's database is gone, so these converters are
the only place where the two meet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bulkhead.memory.records import OrderRecord, TradeRecord


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def trade_record(trade: Any) -> TradeRecord:
    open_ms = _ms(trade.open_date_utc) or 0
    close_ms = None if trade.is_open else _ms(trade.close_date_utc)
    return TradeRecord(
        trade_id=int(trade.id),
        pair=str(trade.pair),
        side="short" if trade.is_short else "long",
        is_open=bool(trade.is_open),
        amount=float(trade.amount),
        stake_amount=float(trade.stake_amount),
        open_rate=float(trade.open_rate),
        close_rate=None if trade.is_open or trade.close_rate is None else float(trade.close_rate),
        open_time_ms=open_ms,
        close_time_ms=close_ms,
        fee_open_cost=float(trade.fee_open_cost or 0.0),
        fee_close_cost=None if trade.fee_close_cost is None else float(trade.fee_close_cost),
        realized_pnl=None if trade.is_open else float(trade.close_profit_abs or 0.0),
        realized_pnl_ratio=None if trade.is_open else float(trade.close_profit or 0.0),
        entry_tag=str(trade.enter_tag or ""),
        exit_reason=str(trade.exit_reason or ""),
        duration_s=None if close_ms is None else (close_ms - open_ms) / 1000,
    )


def filled_orders(trade: Any) -> list[Any]:
    return [o for o in trade.orders if o.status == "closed" and (o.filled or 0) > 0]


def order_record(trade: Any, order: Any) -> OrderRecord:
    entry = order.ft_order_side == trade.entry_side
    rate = trade.fee_open if entry else trade.fee_close
    cost = float(order.safe_cost)
    return OrderRecord(
        order_id=str(order.order_id),
        trade_id=int(trade.id),
        pair=str(order.ft_pair),
        side=str(order.ft_order_side),
        order_type=str(order.order_type or ""),
        amount=float(order.safe_filled),
        price=float(order.safe_price),
        cost=cost,
        fee_quote=cost * float(rate or 0.0),
        fee_base=float(order.safe_fee_base),
        filled_time_ms=_ms(order.order_filled_utc) or _ms(order.order_date_utc) or 0,
    )
