"""The budget ledger: per bot, what its orders and positions commit, against its cap.

committed = the worst-case cost of open buy orders (``ledger_model``: limit, market by
funds, market by size) + the cost basis of held positions, fees included. cap = the budget
lowered by realized losses; realized profits raise it only with ``compound``. A buy is
reserved before it leaves the machine, by one Lua script on the bot's own keys
(``memory/keys.py``, ``memory/lua/ledger_*.lua``), so any number of gateways or requests
reserving at once can never take committed above the cap by a single unit (1e-8).

Lifecycle of a buy: ``reserve`` -> the upstream answers -> ``settle_order`` (refused:
released; accepted: kept) or ``lost_answer`` (kept, marked, until the order is found by its
clientOid and settled) -> ``fill`` (partial or full: the cost moves to the position) or
``cancel`` (the unfilled part is released). ``sell_fill`` shrinks a position's cost basis in
proportion and realizes the PnL. ``rebuild`` replaces everything with the exchange's state
(open orders, fills, balances) at start, so a restarted gateway or Redis neither leaks nor
double counts.

The gateway's hot path has two of these on the event loop (``reserve_on_loop``,
``accept_on_loop``: the same script and commands through ``memory.aio``); the rest are
synchronous (the reconciler, the CLI and the rarer decisions call them from threads).

Fail closed: when Redis cannot be reached, ``reserve`` and ``buys_allowed`` refuse (a
decision, with ``LEDGER_UNAVAILABLE``); ``admits`` lets sells and cancels through without
asking Redis at all. Accounting calls (fills, cancels, sells) raise ``LedgerUnavailable``
then; the next rebuild catches up from the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis

from bulkhead.errors import TemporaryError
from bulkhead.gateway.ledger_model import (
    Fill,
    LedgerState,
    Position,
    cap_units,
    from_units,
    qty_units,
    replay,
    sell_effect,
    to_units,
)
from bulkhead.memory import aio, scripts
from bulkhead.memory.keys import GatewayKeys
from bulkhead.plumbing import as_text

BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
LEDGER_UNAVAILABLE = "LEDGER_UNAVAILABLE"
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
#: compare-and-set retries of one sell before giving up (each retry means another sell of
#: the same symbol landed in between)
_SELL_RETRIES = 50


class LedgerUnavailable(TemporaryError):
    """Redis did not answer: the ledger cannot record this; the next rebuild catches up."""


@dataclass(frozen=True)
class Decision:
    """Allowed, or refused with a reason code and its numbers."""

    allowed: bool
    reason: str = ""
    #: refused because a new order's clientOid is already held (a malformed order)
    in_use: bool = False
    #: refused by the trading state (``reserve(state=True)``): the state and its reason
    state: tuple[str, str] | None = None


@dataclass(frozen=True)
class TradeFill:
    """One fill as the exchange reports it. ``funds`` = price x size; ``fee`` in stake."""

    symbol: str
    side: str  # "buy" or "sell"
    size: Decimal
    funds: Decimal
    fee: Decimal = Decimal(0)
    trade_id: str = ""

    def as_units(self) -> Fill:
        if self.side == "buy":
            return Fill(self.symbol, "buy", qty_units(self.size), to_units(self.funds + self.fee))
        proceeds = to_units(self.funds - self.fee, up=False)
        return Fill(self.symbol, "sell", qty_units(self.size), proceeds)


@dataclass(frozen=True)
class ExchangeState:
    """What the exchange says, for ``rebuild``: each open buy's worst-case cost of its
    unfilled part (by clientOid), every fill of the bot in order, and the base balances."""

    open_buys: Mapping[str, Decimal]
    fills: Sequence[TradeFill] = ()
    balances: Mapping[str, Decimal] | None = None

    def ledger_state(self) -> LedgerState:
        balances = None
        if self.balances is not None:
            balances = {s: qty_units(q) for s, q in self.balances.items()}
        state = replay([f.as_units() for f in self.fills], balances)
        state.reservations = {oid: to_units(c) for oid, c in self.open_buys.items() if c > 0}
        return state


@dataclass(frozen=True)
class PositionView:
    qty: Decimal
    cost: Decimal


@dataclass(frozen=True)
class Snapshot:
    cap: Decimal
    committed: Decimal
    headroom: Decimal
    realized: Decimal
    positions: dict[str, PositionView]
    reservations: dict[str, Decimal]
    lost: frozenset[str]


class Ledger:
    """One bot's budget ledger on ``client``. No I/O here: scripts register lazily."""

    def __init__(
        self, client: redis.Redis, bot: str, budget: Decimal, *, compound: bool = False
    ) -> None:
        self.client = client
        self.keys = GatewayKeys(bot)
        self.budget = to_units(budget, up=False)
        self.compound = compound
        self._reserve = scripts.register(client, "ledger_reserve")
        self._release = scripts.register(client, "ledger_release")
        self._fill = scripts.register(client, "ledger_fill")
        self._sell = scripts.register(client, "ledger_sell")
        self._rebuild = scripts.register(client, "ledger_rebuild")

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except _REDIS_DOWN as e:
            raise LedgerUnavailable(f"ledger of {self.keys.bot}: Redis unreachable ({e})") from e

    # -- decisions ------------------------------------------------------------------------

    def reserve(
        self, client_oid: str, worst_case_cost: Decimal, *, new: bool = False, state: bool = False
    ) -> Decision:
        """Reserve a buy's worst-case cost, or refuse it with the numbers. Atomic.

        A clientOid already reserved passes again without a second reservation (a retry),
        unless ``new``: then it is refused as in use (checked in the same script, one
        round trip). ``state``: the bot's trading state is checked in the same script too;
        anything but ACTIVE refuses, with ``Decision.state`` saying which (and why)."""
        call = self._reserve_call(client_oid, worst_case_cost, new, state)
        if isinstance(call, Decision):
            return call
        try:
            result = self._call(self._reserve, *call)
        except LedgerUnavailable as e:
            return Decision(False, f"{LEDGER_UNAVAILABLE} {e}")
        return _reserved(result, client_oid, call[1][1])

    async def reserve_on_loop(
        self, client_oid: str, worst_case_cost: Decimal, *, new: bool = False, state: bool = False
    ) -> Decision:
        """``reserve`` on the running event loop (``memory.aio``): the gateway's hot path."""
        call = self._reserve_call(client_oid, worst_case_cost, new, state)
        if isinstance(call, Decision):
            return call
        try:
            result = await aio.on_loop(self.client).script("ledger_reserve", *call)
        except _REDIS_DOWN as e:
            unreachable = f"ledger of {self.keys.bot}: Redis unreachable ({e})"
            return Decision(False, f"{LEDGER_UNAVAILABLE} {unreachable}")
        return _reserved(result, client_oid, call[1][1])

    def _reserve_call(
        self, client_oid: str, worst_case_cost: Decimal, new: bool, state: bool
    ) -> tuple[list[str], list[Any]] | Decision:
        """The reservation script's keys and arguments, or the refusal of a bad cost."""
        cost = to_units(worst_case_cost)
        if cost <= 0:
            return Decision(False, f"BAD_ORDER cost={worst_case_cost}")
        keys = [self.keys.ledger, self.keys.ledger_orders]
        if state:
            keys.append(self.keys.state)
        flags = ["1" if self.compound else "0", "1" if new else "0"]
        return keys, [client_oid, cost, self.budget, *flags]

    def buys_allowed(self) -> Decision:
        """Whether buys may be considered at all: refused when Redis does not answer."""
        try:
            self.client.ping()
        except _REDIS_DOWN as e:
            return Decision(False, f"{LEDGER_UNAVAILABLE} Redis unreachable ({e})")
        return Decision(True)

    def admits(self, action: str) -> Decision:
        """``buy`` asks Redis (fail closed); ``sell`` and ``cancel`` never need the ledger."""
        if action in ("sell", "cancel"):
            return Decision(True)
        return self.buys_allowed()

    # -- accounting -----------------------------------------------------------------------

    def settle_order(self, client_oid: str, *, accepted: bool) -> None:
        """The upstream answered (or the order was found by its clientOid): an accepted
        order keeps its reservation (no longer marked lost); a refused one releases it."""
        if accepted:
            try:
                self.client.srem(self.keys.ledger_lost, client_oid)
            except _REDIS_DOWN as e:
                raise LedgerUnavailable(f"ledger of {self.keys.bot}: {e}") from e
        else:
            self.cancel(client_oid)

    async def accept_on_loop(
        self,
        client_oid: str,
        order_id: str | None,
        also: Callable[[Any], None] | None = None,
    ) -> None:
        """``settle_order(accepted=True)`` and, with the exchange's ``order_id``, its map to
        the clientOid (fills name the orderId), in one round trip on the running event loop
        (``memory.aio``: the gateway's hot path); ``also`` adds its own commands to that
        round trip (the decision record)."""

        def commands(pipe: Any) -> None:
            pipe.srem(self.keys.ledger_lost, client_oid)
            if order_id:
                pipe.hset(self.keys.ledger_oids, order_id, client_oid)
            if also is not None:
                also(pipe)

        try:
            await aio.on_loop(self.client).pipeline(commands)
        except _REDIS_DOWN as e:
            raise LedgerUnavailable(f"ledger of {self.keys.bot}: {e}") from e

    def lost_answer(self, client_oid: str) -> None:
        """No answer came: keep the reservation, marked, until the order is found."""
        try:
            self.client.sadd(self.keys.ledger_lost, client_oid)
        except _REDIS_DOWN as e:
            raise LedgerUnavailable(f"ledger of {self.keys.bot}: {e}") from e

    def cancel(self, client_oid: str) -> Decimal:
        """Release what is left of a buy's reservation; returns the amount released."""
        keys = [self.keys.ledger, self.keys.ledger_orders, self.keys.ledger_lost]
        return from_units(int(self._call(self._release, keys, [client_oid])))

    def fill(
        self,
        client_oid: str,
        symbol: str,
        size: Decimal,
        funds: Decimal,
        fee: Decimal,
        *,
        done: bool = False,
        trade_id: str = "",
    ) -> bool:
        """A buy filled ``size`` for ``funds`` (price x size) plus ``fee`` (stake currency).
        ``done``: the order is closed, what is left of its reservation is released.
        A fill whose ``trade_id`` was already counted changes nothing; returns whether
        this one was counted."""
        keys = [
            self.keys.ledger,
            self.keys.ledger_orders,
            self.keys.ledger_positions,
            self.keys.ledger_lost,
            self.keys.ledger_fills,
        ]
        cost = to_units(funds + fee)
        args = [client_oid, symbol, qty_units(size), cost, "1" if done else "0", trade_id]
        counted, _ = self._call(self._fill, keys, args)
        return bool(counted)

    def sell_fill(
        self, symbol: str, size: Decimal, funds: Decimal, fee: Decimal, *, trade_id: str = ""
    ) -> Decimal:
        """A sell filled: the position shrinks in proportion, the PnL is realized (a loss
        lowers the cap). Returns the realized PnL (0 for a ``trade_id`` already counted)."""
        proceeds = to_units(funds - fee, up=False)
        sold = qty_units(size)
        keys = [self.keys.ledger, self.keys.ledger_positions, self.keys.ledger_fills]
        for _ in range(_SELL_RETRIES):
            try:
                raw = self.client.hmget(
                    self.keys.ledger_positions, [f"{symbol}:qty", f"{symbol}:cost"]
                )
            except _REDIS_DOWN as e:
                raise LedgerUnavailable(f"ledger of {self.keys.bot}: {e}") from e
            held, cost = (int(v) if v is not None else 0 for v in raw)
            effect = sell_effect(held, cost, sold, proceeds)
            args = [symbol, held, cost, -effect.qty, -effect.released, effect.pnl, trade_id]
            applied = self._call(self._sell, keys, args)
            if applied == 2:
                return from_units(0)
            if applied:
                return from_units(effect.pnl)
        raise LedgerUnavailable(f"ledger of {self.keys.bot}: {symbol} kept changing")

    def rebuild(self, exchange: ExchangeState) -> None:
        """Replace the whole ledger with what the exchange says, in one script. The fills'
        trade ids become the counted set, so the same fills reported again count nothing."""
        state = exchange.ledger_state()
        args: list[Any] = [
            state.realized,
            state.committed,
            len(state.reservations),
            2 * len(state.positions),
        ]
        for oid, cost in state.reservations.items():
            args += [oid, cost]
        for symbol, position in state.positions.items():
            args += [f"{symbol}:qty", position.qty, f"{symbol}:cost", position.cost]
        args += sorted({f.trade_id for f in exchange.fills if f.trade_id})
        keys = [
            self.keys.ledger,
            self.keys.ledger_orders,
            self.keys.ledger_positions,
            self.keys.ledger_lost,
            self.keys.ledger_fills,
        ]
        self._call(self._rebuild, keys, args)

    # -- reading --------------------------------------------------------------------------

    def state(self) -> tuple[LedgerState, frozenset[str]]:
        """The ledger in units, read in one transaction, and the lost clientOids."""
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hgetall(self.keys.ledger)
                pipe.hgetall(self.keys.ledger_orders)
                pipe.hgetall(self.keys.ledger_positions)
                pipe.smembers(self.keys.ledger_lost)
                totals, orders, positions, lost = pipe.execute()
        except _REDIS_DOWN as e:
            raise LedgerUnavailable(f"ledger of {self.keys.bot}: {e}") from e
        state = LedgerState(realized=int(totals.get(b"realized", 0)))
        state.reservations = {k.decode(): int(v) for k, v in orders.items()}
        for name, value in positions.items():
            symbol, _, part = name.decode().rpartition(":")
            position = state.positions.setdefault(symbol, Position())
            setattr(position, part, int(value))
        stored = int(totals.get(b"committed", 0))
        if stored != state.committed:
            raise AssertionError(f"ledger committed {stored} != parts {state.committed}")
        return state, frozenset(m.decode() for m in lost)

    def snapshot(self) -> Snapshot:
        state, lost = self.state()
        cap = cap_units(self.budget, state.realized, self.compound)
        return Snapshot(
            cap=from_units(cap),
            committed=from_units(state.committed),
            headroom=from_units(cap - state.committed),
            realized=from_units(state.realized),
            positions={
                s: PositionView(from_units(p.qty), from_units(p.cost))
                for s, p in state.positions.items()
            },
            reservations={oid: from_units(c) for oid, c in state.reservations.items()},
            lost=lost,
        )


def _reserved(result: Any, client_oid: str, cost: int) -> Decision:
    """The reservation script's answer as a decision (``Ledger.reserve``)."""
    ok, cap, committed = result
    if ok == 3:
        held_by = as_text(cap), as_text(committed)
        return Decision(False, f"{held_by[0]} {held_by[1]}".strip(), state=held_by)
    if ok == 2:
        return Decision(False, f"BAD_ORDER clientOid {client_oid} is in use", in_use=True)
    if ok:
        return Decision(True)
    return Decision(
        False,
        f"{BUDGET_EXCEEDED} cap={from_units(int(cap)):.2f} "
        f"committed={from_units(int(committed)):.2f} order={from_units(cost):.2f}",
    )
