"""The ledger against a model of the exchange, by a hypothesis state machine on real Redis.

Random places (answered, refused, or with the answer lost whether or not the exchange took
the order), found lost orders, partial and full fills, cancels, sells, gateway restarts (a
new ``Ledger``), Redis losing everything, and rebuilds. At every step: committed <= cap, the
ledger never counts less than the exchange's worst case, and its positions and realized PnL
are the exchange's. After each rebuild the ledger *equals* the exchange's state.

The model computes on its own (integer units, proportional cost basis), not through
``ledger_model``, so the two check each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bulkhead.gateway.ledger import ExchangeState, Ledger, TradeFill
from bulkhead.memory.server import ManagedRedis

BOT = "alpha"
BUDGET = Decimal("100")
FEE = Decimal("0.001")
SYMBOLS = ("XRP-USDT", "ADA-USDT")
U = 10**8


def up(amount: Decimal) -> int:
    return int((amount * U).to_integral_value(ROUND_CEILING))


def down(amount: Decimal) -> int:
    return int((amount * U).to_integral_value(ROUND_FLOOR))


@dataclass
class Order:
    """A buy order as the exchange holds it."""

    symbol: str
    size: int  # whole coins
    price: Decimal
    filled: int = 0

    def worst_left(self) -> Decimal:
        return (self.size - self.filled) * self.price * (1 + FEE)


class LedgerMachine(RuleBasedStateMachine):
    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushall()
        self.orders: dict[str, Order] = {}  # open at the exchange
        self.lost: set[str] = set()  # answers lost, not yet found
        self.ghosts: set[str] = set()  # lost and never reached the exchange
        self.fills: list[TradeFill] = []
        self.qty = dict.fromkeys(SYMBOLS, 0)
        self.cost = dict.fromkeys(SYMBOLS, 0)  # units
        self.realized = 0  # units
        self.next_id = 0
        self.compound = False
        self.ledger = Ledger(self.client, BOT, BUDGET)

    @initialize(compound=st.booleans())
    def choose(self, compound: bool) -> None:
        self.compound = compound
        self.ledger = Ledger(self.client, BOT, BUDGET, compound=compound)

    # -- the bot and the exchange -------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        size=st.integers(1, 30),
        price=st.integers(1000, 20000),
        answer=st.sampled_from(["accepted", "refused", "lost_placed", "lost_ghost"]),
    )
    def place(self, symbol: str, size: int, price: int, answer: str) -> None:
        order = Order(symbol, size, Decimal(price) / 10_000)
        oid = f"o{self.next_id}"
        self.next_id += 1
        before = self.ledger.snapshot()
        decision = self.ledger.reserve(oid, order.worst_left())
        assert decision.allowed == (before.committed + order.worst_left() <= before.cap)
        if not decision.allowed:
            assert decision.reason.startswith("BUDGET_EXCEEDED")
            return
        if answer == "accepted":
            self.orders[oid] = order
            self.ledger.settle_order(oid, accepted=True)
        elif answer == "refused":
            self.ledger.settle_order(oid, accepted=False)
        else:
            self.ledger.lost_answer(oid)
            self.lost.add(oid)
            if answer == "lost_placed":
                self.orders[oid] = order
            else:
                self.ghosts.add(oid)

    @precondition(lambda self: self.lost)
    @rule(pick=st.integers(0, 10**6))
    def find_lost(self, pick: int) -> None:
        oid = sorted(self.lost)[pick % len(self.lost)]
        self.lost.discard(oid)
        self.ghosts.discard(oid)
        self.ledger.settle_order(oid, accepted=oid in self.orders)

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 10**6), part=st.integers(1, 100), discount=st.integers(0, 50))
    def fill(self, pick: int, part: int, discount: int) -> None:
        oid = sorted(self.orders)[pick % len(self.orders)]
        order = self.orders[oid]
        qty = max(1, (order.size - order.filled) * part // 100)
        price = order.price * (100 - 1 - discount) / 100  # at least 1 % under the limit
        funds = qty * price
        fee = funds * FEE
        order.filled += qty
        done = order.filled == order.size
        trade_id = f"t{len(self.fills)}"
        assert self.ledger.fill(
            oid, order.symbol, Decimal(qty), funds, fee, done=done, trade_id=trade_id
        )
        self.fills.append(TradeFill(order.symbol, "buy", Decimal(qty), funds, fee, trade_id))
        self.qty[order.symbol] += qty * U
        self.cost[order.symbol] += up(funds + fee)
        self.lost.discard(oid)
        if done:
            del self.orders[oid]

    @precondition(lambda self: self.orders)
    @rule(pick=st.integers(0, 10**6))
    def cancel(self, pick: int) -> None:
        oid = sorted(self.orders)[pick % len(self.orders)]
        del self.orders[oid]
        self.lost.discard(oid)
        self.ledger.cancel(oid)

    @precondition(lambda self: any(self.qty.values()))
    @rule(pick=st.integers(0, 1), part=st.integers(1, 100), price=st.integers(500, 30000))
    def sell(self, pick: int, part: int, price: int) -> None:
        symbol = [s for s in SYMBOLS if self.qty[s]][
            pick % len([s for s in SYMBOLS if self.qty[s]])
        ]
        held = self.qty[symbol] // U
        qty = max(1, held * part // 100)
        funds = qty * Decimal(price) / 10_000
        fee = funds * FEE
        proceeds = down(funds - fee)
        released = self.cost[symbol] if qty == held else self.cost[symbol] * qty // held
        self.qty[symbol] -= qty * U
        self.cost[symbol] -= released
        self.realized += proceeds - released
        trade_id = f"t{len(self.fills)}"
        pnl = self.ledger.sell_fill(symbol, Decimal(qty), funds, fee, trade_id=trade_id)
        assert pnl * U == proceeds - released
        self.fills.append(TradeFill(symbol, "sell", Decimal(qty), funds, fee, trade_id))

    @precondition(lambda self: self.fills)
    @rule(pick=st.integers(0, 10**6))
    def fill_reported_again(self, pick: int) -> None:
        """The gateway polls fills and sees one it already counted: nothing changes."""
        fill = self.fills[pick % len(self.fills)]
        if fill.side == "buy":
            assert not self.ledger.fill(
                "any", fill.symbol, fill.size, fill.funds, fill.fee, trade_id=fill.trade_id
            )
        else:
            assert (
                self.ledger.sell_fill(
                    fill.symbol, fill.size, fill.funds, fill.fee, trade_id=fill.trade_id
                )
                == 0
            )

    # -- the gateway and Redis ----------------------------------------------------------

    @rule()
    def restart_gateway(self) -> None:
        self.ledger = Ledger(self.client, BOT, BUDGET, compound=self.compound)

    def exchange(self) -> ExchangeState:
        return ExchangeState(
            open_buys={oid: o.worst_left() for oid, o in self.orders.items()},
            fills=list(self.fills),
            balances={s: Decimal(q) / U for s, q in self.qty.items()},
        )

    @rule(wipe=st.booleans())
    def rebuild(self, wipe: bool) -> None:
        if wipe:  # Redis restarted without its data
            self.client.flushall()
            self.ledger = Ledger(self.client, BOT, BUDGET, compound=self.compound)
        self.ledger.rebuild(self.exchange())
        self.lost.clear()
        self.ghosts.clear()
        snap = self.ledger.snapshot()
        assert snap.reservations == {
            oid: Decimal(up(o.worst_left())) / U for oid, o in self.orders.items()
        }
        assert snap.lost == frozenset()
        assert snap.committed * U == sum(up(o.worst_left()) for o in self.orders.values()) + sum(
            self.cost.values()
        )

    # -- at every step ------------------------------------------------------------------

    @invariant()
    def committed_stays_under_the_cap_and_matches_the_exchange(self) -> None:
        snap = self.ledger.snapshot()
        assert snap.committed <= snap.cap
        limit = BUDGET * U + (self.realized if self.compound else min(self.realized, 0))
        assert snap.cap * U == limit
        assert snap.realized * U == self.realized
        held = {s: (self.qty[s], self.cost[s]) for s in SYMBOLS if self.qty[s]}
        assert {s: (p.qty * U, p.cost * U) for s, p in snap.positions.items()} == held
        # never less than the exchange's worst case (a lost order it never got counts too)
        worst = sum(up(o.worst_left()) for o in self.orders.values())
        assert snap.committed * U >= worst + sum(self.cost.values())
        assert set(self.orders) <= set(snap.reservations)
        assert snap.lost == self.lost


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    server = ManagedRedis(Path(tmp_path_factory.mktemp("ledger")) / "redis", fsync="no")
    connection = server.ensure_running().client(socket_timeout=10)
    yield connection
    connection.close()
    server.stop()


def test_the_ledger_follows_the_exchange_through_any_sequence(client: redis.Redis) -> None:
    LedgerMachine.client = client
    started = time.monotonic()
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert time.monotonic() - started < 60
