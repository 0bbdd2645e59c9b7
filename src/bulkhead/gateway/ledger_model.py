"""The budget ledger's arithmetic, pure: worst-case costs, units, caps, sells and rebuilds.

Amounts live in Redis as exact integers of 1e-8 of the stake currency (quantities: 1e-8
of the base currency), never floats, so nothing drifts and Lua can compare them exactly
(every amount stays below 2^53). Costs round up to the unit and proceeds round down: the
ledger may over-count a fraction of a unit, never under-count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

UNIT = Decimal("0.00000001")
SCALE = 10**8


def to_units(amount: Decimal, *, up: bool = True) -> int:
    """``amount`` as integer 1e-8 units, rounded up (costs) or down (proceeds)."""
    scaled = (Decimal(amount) * SCALE).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
    return int(scaled)


def qty_units(qty: Decimal) -> int:
    """A quantity as 1e-8 units of the base currency; finer quantities are refused."""
    scaled = Decimal(qty) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"quantity {qty} is finer than 1e-8")
    return int(scaled)


def from_units(units: int) -> Decimal:
    return (Decimal(units) / SCALE).quantize(UNIT)


def limit_cost(size: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    """Worst case of a limit buy: size x price x (1 + fee)."""
    return size * price * (1 + fee_rate)


def market_funds_cost(funds: Decimal, fee_rate: Decimal = Decimal(0)) -> Decimal:
    """Worst case of a market buy by funds: the funds, plus the fee where the exchange
    charges it on top (the twin does: 30 USDT of funds cost 30.03 at 0.1 %)."""
    return funds * (1 + fee_rate)


def market_size_cost(
    size: Decimal, best_ask: Decimal, slippage: Decimal, fee_rate: Decimal = Decimal(0)
) -> Decimal:
    """Worst case of a market buy by size: size x best ask x (1 + slippage margin)
    (x (1 + fee) when the fee is known)."""
    return size * best_ask * (1 + slippage) * (1 + fee_rate)


def cap_units(budget: int, realized: int, compound: bool) -> int:
    """The cap: the budget lowered by realized losses; profits raise it only when compounding."""
    return budget + (realized if compound else min(realized, 0))


@dataclass(frozen=True)
class SellEffect:
    """What one sell fill does to a position (all in units)."""

    qty: int  # quantity taken out of the position (at most what it held)
    released: int  # cost basis released
    pnl: int  # realized profit (negative: loss)


def sell_effect(held_qty: int, held_cost: int, sold_qty: int, proceeds: int) -> SellEffect:
    """Proportional release: selling q of Q releases cost x q / Q (all of it when q >= Q).

    ``proceeds`` is what the sell brought in, fee deducted. Selling more than the ledger
    holds (coins it never bought) counts only the part it holds, and that part's proceeds.
    """
    if held_qty <= 0 or sold_qty <= 0:
        return SellEffect(0, 0, 0)
    qty = min(sold_qty, held_qty)
    released = held_cost if qty == held_qty else held_cost * qty // held_qty
    own_proceeds = proceeds if qty == sold_qty else proceeds * qty // sold_qty
    return SellEffect(qty, released, own_proceeds - released)


@dataclass
class Position:
    qty: int = 0
    cost: int = 0


@dataclass(frozen=True)
class Fill:
    """One fill as the exchange reports it (amounts in units)."""

    symbol: str
    side: str  # "buy" or "sell"
    qty: int
    value: int  # buy: cost with fee (rounded up); sell: proceeds net of fee (rounded down)


@dataclass
class LedgerState:
    """What the ledger holds, in units: the shape ``rebuild`` writes and ``snapshot`` reads."""

    realized: int = 0
    reservations: dict[str, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)

    @property
    def committed(self) -> int:
        return sum(self.reservations.values()) + sum(p.cost for p in self.positions.values())


def replay(fills: list[Fill], balances: dict[str, int] | None = None) -> LedgerState:
    """Positions and realized PnL from the fills, in order; then each position is capped at
    the balance held (``balances``: symbol -> units of its base; a missing symbol holds
    nothing), its cost scaled down in proportion, so coins gone elsewhere are not counted."""
    state = LedgerState()
    for fill in fills:
        position = state.positions.setdefault(fill.symbol, Position())
        if fill.side == "buy":
            position.qty += fill.qty
            position.cost += fill.value
        else:
            effect = sell_effect(position.qty, position.cost, fill.qty, fill.value)
            position.qty -= effect.qty
            position.cost -= effect.released
            state.realized += effect.pnl
    if balances is not None:
        for symbol, position in state.positions.items():
            held = balances.get(symbol, 0)
            if held < position.qty:
                position.cost = position.cost * held // position.qty if position.qty else 0
                position.qty = held
    state.positions = {s: p for s, p in state.positions.items() if p.qty > 0}
    return state


def _positive(body: Mapping[str, object], name: str) -> Decimal:
    raw = body.get(name)
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} {raw!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} {raw!r} must be a positive number")
    return value


def order_worst_case(
    body: Mapping[str, object],
    *,
    fee_rate: Decimal,
    slippage: Decimal,
    best_ask: Decimal | None = None,
) -> Decimal:
    """The worst-case cost of a KuCoin spot order body (``side``, ``type``, ``size``,
    ``price``, ``funds``); a sell commits nothing (0). A size, price or funds that does
    not parse, or a market buy by size without a best ask, raises ``ValueError``: the
    gateway refuses such an order rather than guess."""
    side = body.get("side")
    if side == "sell":
        return Decimal(0)
    if side != "buy":
        raise ValueError(f"side {side!r} is neither buy nor sell")
    kind = body.get("type", "limit")
    if kind == "limit":
        return limit_cost(_positive(body, "size"), _positive(body, "price"), fee_rate)
    if kind != "market":
        raise ValueError(f"type {kind!r} is neither limit nor market")
    if body.get("funds") not in (None, ""):
        return market_funds_cost(_positive(body, "funds"), fee_rate)
    if best_ask is None:
        raise ValueError("a market buy by size needs the best ask")
    return market_size_cost(_positive(body, "size"), best_ask, slippage, fee_rate)
