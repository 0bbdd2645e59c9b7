"""The budget hook: the gateway's order hook over the budget ledger and the trading states.

Every order placement (classic, HF, stop) passes ``BudgetHook.reserve`` before it leaves the
machine; the first refusal wins:

1. the body must be a spot order this bot may send: JSON, ``side`` buy or sell, a symbol
   quoted in its stake currency, and for a buy a clientOid and numbers that parse
   (``ledger_model.order_worst_case``); else KuCoin's 400100 (``BAD_ORDER``);
2. a dry-run bot places nothing (``DRY_RUN``);
3. HALTED refuses every placement, REDUCING every buy; a state that cannot be read refuses
   buys (fail closed) and lets sells pass (exits stay possible while Redis is down);
4. the placement over ``orders_per_minute`` in a sliding minute halts the bot (``ORDER_RATE``):
   a bot placing that fast is broken or hostile; only the operator resumes it;
5. sells pass: they commit nothing; a buy reserves its worst-case cost on the ledger,
   atomically against the cap (``BUDGET_EXCEEDED``); a market buy by size is costed at the
   best ask (``NO_PRICE`` without one).

Policy refusals answer KuCoin's 200004 (ccxt: ``InsufficientFunds``, which Freqtrade logs
and does not retry in a loop), the message starting with the reason code. ``settle`` reads
the upstream's answer: an accepted buy keeps its reservation and maps its orderId to its
clientOid (fills name the orderId); a refused one is released; a lost one is kept, marked,
until the reconciler finds the order by its clientOid.

Each decision is one ``gateway_decision`` log event at once and one entry on the bot's
decision stream (``states.record``): a refusal at once, an allowed placement once the
upstream has answered, with the outcome (one entry per placement, one Redis write fewer).
Nothing a bot sent is logged beyond side, symbol, clientOid and cost (and a refused value).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import redis

from bulkhead.gateway.ledger import LEDGER_UNAVAILABLE, Ledger, LedgerUnavailable
from bulkhead.gateway.ledger_model import from_units, order_worst_case, to_units
from bulkhead.gateway.states import StateRecord, StateUnavailable, TradingState, TradingStates
from bulkhead.gateway.upstream import Answer
from bulkhead.kucoin import envelope
from bulkhead.kucoin.envelope import KucoinError
from bulkhead.kucoin.http import Request
from bulkhead.logs import event
from bulkhead.memory import aio

logger = logging.getLogger("bulkhead.gateway")

#: the reasons of refusals (with ledger.BUDGET_EXCEEDED and ledger.LEDGER_UNAVAILABLE)
BAD_ORDER, DRY_RUN, HALTED, REDUCING = "BAD_ORDER", "DRY_RUN", "HALTED", "REDUCING"
ORDER_RATE, NO_PRICE = "ORDER_RATE", "NO_PRICE"
#: the throttle's window
WINDOW_S = 60.0
#: the largest worst case a buy may have: the ledger's units must stay below 2^53 (Lua)
MAX_COST = from_units(2**53 - 1)
#: KuCoin's clientOid (at most 40 characters; ccxt sends a UUID); no ":", so a bot's oid
#: can never pass for one the reconciler makes up for an order placed without one
CLIENT_OID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SYMBOL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")
OK = "200000"
#: KuCoin's own internal error: the order may or may not have been placed
UNKNOWN = "500000"
_SHOWN = 200
#: the hook's worker threads (and so at most this many Redis connections of its own)
WORKERS = 8
T = TypeVar("T")

BestAsk = Callable[[str], Awaitable[Decimal | None]]


@dataclass(frozen=True)
class OrderRules:
    """What one bot may place, and how its buys are costed."""

    budget: Decimal
    stake_currency: str = "USDT"
    fee_rate: Decimal = Decimal("0.001")
    #: margin on market buys by size (their price is unknown until they fill)
    slippage: Decimal = Decimal("0.02")
    #: the throttle: the placement over it in a sliding minute halts the bot
    orders_per_minute: int = 30
    #: False for dry-run bots: every placement is refused
    orders_allowed: bool = True


@dataclass(frozen=True)
class Reservation:
    """What ``reserve`` let through, handed back to ``settle``."""

    side: str
    symbol: str
    client_oid: str
    cost: Decimal  # the reserved worst case (0 for sells)
    note: str = ""  # recorded as the allowed placement's reason


@dataclass(frozen=True)
class _Order:
    side: str
    symbol: str
    client_oid: str
    body: dict[str, Any]
    needs_ask: bool  # a market buy by size: costed at the best ask
    cost: Decimal = Decimal(0)  # a buy's worst case (a market buy by size's: at an ask of 1)


class _Refused(Exception):
    """A refusal on its way out: ``bad`` orders answer 400100, all others 200004."""

    def __init__(self, reason: str, bad: bool = False, cost: Decimal | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:_SHOWN]
        self.bad = bad
        self.cost = cost


class Throttle:
    """Placements per bot in a sliding window, in memory (one gateway process serves the
    fleet; a restart forgets at most a minute), thread-safe (decisions run in threads)."""

    def __init__(self, clock: Callable[[], float], window_s: float = WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def over(self, bot: str, limit: int) -> bool:
        """Count one placement, unless it is over ``limit``: the window is then emptied,
        so a bot the operator resumes starts afresh."""
        now = self._clock()
        with self._lock:
            times = self._times.setdefault(bot, deque())
            while times and times[0] <= now - self._window_s:
                times.popleft()
            if len(times) >= limit:
                times.clear()
                return True
            times.append(now)
            return False


class BudgetHook:
    """``app.OrderHook`` over each bot's ``Ledger``, the ``TradingStates`` and ``rules``.

    The hot path runs on the event loop: a buy's reservation (which reads the trading state
    in the same script) and an accepted buy's settlement with its decision record (one
    pipeline, sent while the bot already has its answer) go through ``memory.aio``, so a
    guarded buy costs two Redis round trips and no thread hop; a Redis that hangs still
    freezes nothing (the call awaits, up to the client's socket timeout). The rest (a
    sell's state, refusals and their records, the throttle's halt, refused and lost
    answers) is rarer and uses redis-py's synchronous client on the hook's own worker
    threads, so that a hung Redis cannot take the loop's default executor (DNS lookups)
    with it. Measured (``bench/gateway.py --quick``, 2 CPUs, ``appendfsync always``): all
    on worker threads, 950-1,055 guarded orders/s and 1.9-2.3 ms added at p50 (the threads
    and the loop fought over the GIL); as now, ~3,700/s and ~0.8-1 ms (README, benchmarks).
    """

    def __init__(
        self,
        *,
        ledgers: Mapping[str, Ledger],
        states: TradingStates,
        rules: Mapping[str, OrderRules],
        best_ask: BestAsk,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledgers = ledgers
        self.states = states
        self.rules = rules
        self.best_ask = best_ask
        self.throttle = Throttle(clock)
        #: (bot, clientOid) of buys between reserve and settle in this process
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="budget-hook")

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def reserve(self, bot: str, request: Request) -> object:
        rules, order = self.rules.get(bot), None
        try:
            if rules is None:
                raise _Refused(f"{LEDGER_UNAVAILABLE} no order rules for this bot")
            order = _parse(request, rules)
            if not rules.orders_allowed:
                raise _Refused(f"{DRY_RUN} this bot runs dry: it places no orders")
            note = ""
            if order.side == "sell" or order.needs_ask:
                # a buy's state is read inside its reservation (one round trip for both); a
                # market buy by size's before its price is asked for (a halted bot's buys
                # cost no upstream request), and read again by the reservation
                note = await self._run(self._admit, bot, order)
            if self.throttle.over(bot, limit := rules.orders_per_minute):
                await self._run(
                    self._halt, bot, reason := f"{ORDER_RATE} n={limit + 1} limit={limit}/min"
                )
                raise _Refused(reason)
            if order.side == "sell":
                allowed = Reservation("sell", order.symbol, order.client_oid, Decimal(0), note)
            else:
                ask = await self._ask(order.symbol) if order.needs_ask else None
                allowed = await self._reserve_buy(bot, order, rules, ask)
        except _Refused as refused:
            raise await self._run(self._refuse, bot, order, refused) from None
        fields = _fields(order, allowed.note, allowed.cost)
        # Logged once the loop is next idle, i.e. while the order is on its way upstream:
        # the decision is already durable (the reservation, fsynced), and the line (its
        # formatting and two writes) then adds nothing to the bot's wait.
        asyncio.get_running_loop().call_soon(_log_allowed, bot, fields)
        return allowed

    async def _ask(self, symbol: str) -> Decimal | None:
        try:
            ask = await self.best_ask(symbol)
        except Exception as error:  # no price is a refusal, whatever the reason
            event(logger, "best_ask_failed", logging.WARNING, symbol=symbol, error=str(error)[:300])
            return None
        return ask if ask is not None and ask.is_finite() and ask > 0 else None

    def _admit(self, bot: str, order: _Order) -> str:
        try:
            state: StateRecord | None = self.states.get(bot)
        except (StateUnavailable, redis.RedisError) as error:
            event(logger, "state_unavailable", logging.ERROR, bot=bot, error=str(error)[:300])
            state = None
        if state is not None and state.state is TradingState.HALTED:
            raise _Refused(f"{HALTED} {state.reason}".strip())
        if order.side == "sell":
            return "" if state is not None else "STATE_UNAVAILABLE a sell passes"
        if state is None:
            raise _Refused(f"{LEDGER_UNAVAILABLE} the trading state cannot be read")
        if state.state is TradingState.REDUCING:
            raise _Refused(f"{REDUCING} only sells pass ({state.reason})")
        return ""

    async def _reserve_buy(
        self, bot: str, order: _Order, rules: OrderRules, ask: Decimal | None
    ) -> Reservation:
        ledger = self.ledgers.get(bot)
        if ledger is None:
            raise _Refused(f"{LEDGER_UNAVAILABLE} no ledger for this bot")
        if order.needs_ask and ask is None:
            raise _Refused(f"{NO_PRICE} no best ask for {order.symbol}")
        cost = _worst_case(order.body, rules, ask) if order.needs_ask else order.cost
        # The ledger takes a clientOid it holds as a retry (reserved once); a new order must
        # not share it, or the exchange's refusal of the duplicate would release the live
        # order's reservation. Claimed in memory first: two at once would both pass HEXISTS.
        key, held = (bot, order.client_oid), _shown(cost)
        with self._lock:
            if key in self._in_flight:
                raise _Refused(f"{BAD_ORDER} clientOid {order.client_oid} is in flight", True)
            self._in_flight.add(key)
        try:
            decision = await ledger.reserve_on_loop(order.client_oid, cost, new=True, state=True)
            if decision.state is not None:
                raise _Refused(_state_refusal(*decision.state))
            if decision.in_use:
                raise _Refused(decision.reason, True)
            if not decision.allowed:
                raise _Refused(decision.reason, cost=held)
        except BaseException as error:
            self._release_claim(key)
            if isinstance(error, LedgerUnavailable | redis.RedisError):
                raise _Refused(f"{LEDGER_UNAVAILABLE} {error}", cost=held) from None
            raise
        return Reservation("buy", order.symbol, order.client_oid, held)

    def _halt(self, bot: str, reason: str) -> None:
        try:
            self.states.halt(bot, reason)
        except (StateUnavailable, redis.RedisError) as error:
            event(logger, "halt_failed", logging.ERROR, bot=bot, reason=reason, error=str(error))
            return
        halted = {"kind": "state", "decision": TradingState.HALTED.value, "reason": reason}
        event(logger, "gateway_decision", logging.WARNING, bot=bot, **halted)

    def _refuse(self, bot: str, order: _Order | None, refused: _Refused) -> KucoinError:
        """Log and record a refusal (in a worker thread); the error to answer with."""
        fields = _fields(order, refused.reason, refused.cost)
        event(logger, "gateway_decision", logging.WARNING, bot=bot, decision="refuse", **fields)
        self.states.record(bot, kind="order", decision="refuse", **fields)
        if refused.bad:
            return envelope.bad_parameter(refused.reason)
        return KucoinError(envelope.insufficient_balance().code, refused.reason)

    def _release_claim(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._in_flight.discard(key)

    async def settle(self, bot: str, reservation: object, answer: Answer) -> None:
        """Never raises: the order has gone (or not); the reconciler repairs what fails."""
        if not isinstance(reservation, Reservation):
            return
        outcome, code, order_id = _outcome(answer)
        fields = _fields(reservation, reservation.note, reservation.cost)
        record = {"kind": "order", "decision": "allow", **fields}
        record.update(outcome=outcome, code=code, order_id=order_id or "")
        try:
            if reservation.side == "buy" and outcome == "accepted":
                await self._accept(bot, reservation.client_oid, order_id, record)
            else:
                await self._run(self._settle, bot, reservation, outcome, record)
        except Exception:
            logger.exception("settling %s's order failed", bot)
        finally:
            if reservation.side == "buy":
                self._release_claim((bot, reservation.client_oid))

    async def _accept(
        self, bot: str, client_oid: str, order_id: str | None, record: dict[str, str]
    ) -> None:
        """The hot path: an accepted buy settled and recorded in one round trip."""
        try:
            await self.ledgers[bot].accept_on_loop(
                client_oid, order_id, lambda pipe: self.states.record_in(pipe, bot, **record)
            )
        except (LedgerUnavailable, redis.RedisError) as error:  # rebuilt later
            failed = {"client_oid": client_oid, "outcome": "accepted", "error": str(error)[:300]}
            event(logger, "ledger_settle_failed", logging.ERROR, bot=bot, **failed)
            await self._run(lambda: self.states.record(bot, **record))

    def _settle(
        self, bot: str, reservation: Reservation, outcome: str, record: dict[str, str]
    ) -> None:
        """A sell, or a buy refused or lost (in a worker thread)."""
        oid = reservation.client_oid
        if reservation.side == "buy":
            ledger = self.ledgers[bot]
            try:
                if outcome == "refused":
                    ledger.settle_order(oid, accepted=False)
                else:
                    ledger.lost_answer(oid)
            except (LedgerUnavailable, redis.RedisError) as error:  # rebuilt later
                failed = {"client_oid": oid, "outcome": outcome, "error": str(error)[:300]}
                event(logger, "ledger_settle_failed", logging.ERROR, bot=bot, **failed)
        self.states.record(bot, **record)

    async def close(self) -> None:
        """Close the hook's connections on this loop (at the gateway's shutdown)."""
        await aio.close_on_loop()


def _log_allowed(bot: str, fields: dict[str, str]) -> None:
    event(logger, "gateway_decision", logging.INFO, bot=bot, decision="allow", **fields)


def _state_refusal(state: str, reason: str) -> str:
    """The refusal of a buy the trading state stopped (as ``BudgetHook._admit`` words it)."""
    if state == TradingState.REDUCING.value:
        return f"{REDUCING} only sells pass ({reason})"
    if state == TradingState.HALTED.value:
        return f"{HALTED} {reason}".strip()
    return f"{HALTED} unreadable state {state[:40]!r}"


def _parse(request: Request, rules: OrderRules) -> _Order:
    """Step 1: what the order is, or ``_Refused`` (400100) naming what is wrong."""
    try:
        body = request.json()
    except KucoinError as error:
        raise _Refused(f"{BAD_ORDER} {error.msg}", True) from None
    side, symbol, client_oid = body.get("side"), body.get("symbol"), body.get("clientOid")
    if side not in ("buy", "sell"):
        raise _Refused(f"{BAD_ORDER} side {repr(side)[:40]} is neither buy nor sell", True)
    if not isinstance(symbol, str) or not SYMBOL.match(symbol):
        raise _Refused(f"{BAD_ORDER} symbol {repr(symbol)[:40]} is not a spot symbol", True)
    if symbol.rpartition("-")[2] != rules.stake_currency:
        raise _Refused(f"{BAD_ORDER} {symbol} is not quoted in {rules.stake_currency}", True)
    shown_oid = client_oid if isinstance(client_oid, str) and CLIENT_OID.match(client_oid) else ""
    if side == "sell":
        return _Order("sell", symbol, shown_oid, body, False)
    if not shown_oid:
        raise _Refused(f"{BAD_ORDER} a buy needs a clientOid of 1-40 letters, digits, - or _", True)
    needs_ask = body.get("type", "limit") == "market" and body.get("funds") in (None, "")
    cost = _worst_case(body, rules, Decimal(1))  # validates every number now, the price aside
    return _Order("buy", symbol, shown_oid, body, needs_ask, cost)


def _worst_case(body: Mapping[str, Any], rules: OrderRules, ask: Decimal | None) -> Decimal:
    try:
        cost = order_worst_case(
            body, fee_rate=rules.fee_rate, slippage=rules.slippage, best_ask=ask
        )
    except ValueError as error:
        raise _Refused(f"{BAD_ORDER} {error}", True) from None
    except ArithmeticError:  # a Decimal overflow: numbers far past any budget
        raise _Refused(f"{BAD_ORDER} the worst-case cost is out of range", True) from None
    if cost > MAX_COST:
        raise _Refused(f"{BAD_ORDER} worst-case cost {cost:.2E} is out of range", True)
    return cost


def _shown(cost: Decimal) -> Decimal:
    """A cost as the ledger holds it: rounded up to 1e-8."""
    return from_units(to_units(cost))


def _outcome(answer: Answer) -> tuple[str, str, str | None]:
    """accepted, refused (certainly not placed) or lost (maybe placed); code; orderId."""
    try:
        parsed = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        parsed = None
    code = str(parsed.get("code", ""))[:16] if isinstance(parsed, dict) else ""
    if answer.outcome != "answered" or answer.status >= 500 or code in ("", UNKNOWN):
        return "lost", code, None
    if code != OK:
        return "refused", code, None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    order_id = data.get("orderId") if isinstance(data, dict) else None
    return "accepted", code, str(order_id)[:64] if order_id else None


def _fields(
    order: _Order | Reservation | None, reason: str, cost: Decimal | None = None
) -> dict[str, str]:
    side, symbol, oid = (order.side, order.symbol, order.client_oid) if order else ("", "", "")
    shown = "" if cost is None else str(cost)
    return {"reason": reason, "side": side, "symbol": symbol, "client_oid": oid, "cost": shown}
