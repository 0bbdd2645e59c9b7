"""The ledger follows the exchange: rebuilt from it at start, reconciled with it while running.

The order hook reserves a buy's worst case before it leaves and settles from the answer;
everything after that (fills, cancels, expiries, orders whose answer was lost) happens on
the exchange, and only the exchange can say. So each bot has a ``Reconciler`` which:

* at start, rebuilds the ledger from the exchange (``rebuild_ledger``): open buys' worst
  case, every fill, base balances; a gateway or Redis restart neither leaks nor double
  counts, and a bot whose account cannot be read is not served (fail closed);
* every few seconds (``run_once``): counts new fills (a trade id counts once, so the
  overlap between passes is harmless), releases what closed orders did not spend, finds
  orders whose answer was lost by their clientOid, and compares the exchange's base
  balances with the ledger's positions: coins moved behind the ledger's back halt the bot
  (``BALANCE_MISMATCH``), and so does a real key KuCoin stops accepting (``UPSTREAM_AUTH``);
* on ``bulkhead kill``, cancels the bot's open buys and, when asked, sells what it holds.

Fills are counted before a closed order's reservation is released, so the ledger may
briefly count more than is committed, never less. Redis calls run in a worker thread: a
Redis that does not answer must not stall the gateway's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import redis

from bulkhead.errors import TemporaryError
from bulkhead.gateway.exchange_reader import (
    BY_ID,
    FILL_OVERLAP_MS,
    ExchangeFill,
    ExchangeReader,
    ExchangeReadError,
    ExchangeRefused,
    Rebuild,
    decimal,
    is_active,
    reservation_key,
)
from bulkhead.gateway.ledger import Ledger, LedgerUnavailable, Snapshot
from bulkhead.gateway.ledger_model import from_units
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.logs import event

__all__ = ["ExchangeReader", "KillReport", "Reconciler", "rebuild_ledger"]

logger = logging.getLogger("bulkhead.gateway.reconcile")

#: checks a suspected balance mismatch must survive before the bot is halted (a fill
#: landing between reading the ledger and the balances is no mismatch)
MISMATCH_CHECKS = 3
#: key refusals in a row on private reads that halt the bot
AUTH_FAILURES_TO_HALT = 3
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)


# -- rebuild ----------------------------------------------------------------------------


def _stake_symbol(symbol: str, stake: str) -> bool:
    return symbol.endswith(f"-{stake}")


def _redis(ledger: Ledger, call: Callable[..., Any], *args: Any) -> Any:
    """One Redis call (in a worker thread), Redis down becoming ``LedgerUnavailable``."""
    try:
        return call(*args)
    except _REDIS_DOWN as e:
        raise LedgerUnavailable(f"ledger of {ledger.keys.bot}: {e}") from e


async def rebuild_ledger(
    reader: ExchangeReader,
    ledger: Ledger,
    *,
    stake_currency: str,
    fee_rate: Decimal,
    slippage: Decimal,
) -> Snapshot:
    """Replace the ledger with the exchange's state: each open buy's worst case of its
    unfilled part (by clientOid), all fills (buys and sells, oldest first, with their
    trade ids, so none is counted again), base balances (a position is capped at what is
    held; a balance no fill explains counts at balance x best ask). Also rewrites the
    orderId -> clientOid hash for the open buys. Meant for start-up, before the bot's
    orders are served: run while orders flow, it could miss one placed meanwhile.

    Raises ``TemporaryError`` (the exchange or Redis did not answer): fail closed."""
    rebuilt = await reader.rebuild(stake=stake_currency, fee_rate=fee_rate, slippage=slippage)
    return await _write(ledger, rebuilt)


async def _write(ledger: Ledger, rebuilt: Rebuild) -> Snapshot:
    await asyncio.to_thread(ledger.rebuild, rebuilt.state)
    await asyncio.to_thread(_redis, ledger, _replace_oids, ledger, rebuilt.oids)
    snapshot = await asyncio.to_thread(ledger.snapshot)
    event(
        logger,
        "ledger_rebuilt",
        bot=ledger.keys.bot,
        open_buys=len(rebuilt.state.open_buys),
        fills=len(rebuilt.state.fills) - len(rebuilt.unexplained),
        unexplained={s: str(q) for s, q in rebuilt.unexplained.items()},
        cap=str(snapshot.cap),
        committed=str(snapshot.committed),
    )
    return snapshot


def _replace_oids(ledger: Ledger, oids: dict[str, str]) -> None:
    with ledger.client.pipeline(transaction=True) as pipe:
        pipe.delete(ledger.keys.ledger_oids)
        if oids:
            pipe.hset(ledger.keys.ledger_oids, mapping=oids)  # type: ignore[arg-type]
        pipe.execute()


# -- reconciling ------------------------------------------------------------------------


@dataclass
class KillReport:
    """What ``Reconciler.kill`` did: orders cancelled (or not, and why), positions sold."""

    exit_positions: bool
    cancelled: list[str] = field(default_factory=list)
    not_cancelled: dict[str, str] = field(default_factory=dict)
    sold: dict[str, Decimal] = field(default_factory=dict)
    not_sold: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sold": {s: str(q) for s, q in self.sold.items()}}


@dataclass
class _Pass:
    """What one pass changed, for its log line."""

    fills: int = 0
    released: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)


class Reconciler:
    """Keeps one bot's ledger following the exchange; run by the gateway service as a task."""

    def __init__(
        self,
        bot: str,
        reader: ExchangeReader,
        ledger: Ledger,
        states: TradingStates,
        *,
        stake_currency: str,
        fee_rate: Decimal,
        slippage: Decimal,
        mismatch_tolerance: Decimal = Decimal("1.00"),
        lost_after_s: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        self.reader = reader
        self.ledger = ledger
        self.states = states
        self.stake = stake_currency
        self.fee_rate = fee_rate
        self.slippage = slippage
        self.tolerance = mismatch_tolerance
        self.lost_after_s = lost_after_s
        self.clock = clock
        #: the newest fill counted (exchange time, ms); None before any
        self.watermark: int | None = None
        #: clientOid -> when it was first not found on the exchange (this process's memory:
        #: a restart starts the wait again, which only keeps a reservation longer)
        self._missing: dict[str, float] = {}
        self._known_oids: dict[str, str] = {}
        #: mismatches already halted for, so one is not halted for again every pass
        self._halted_for: set[tuple[str, Decimal, Decimal]] = set()
        self._auth_halted = False
        self._last_auth = ""

    # -- start and loop -------------------------------------------------------------------

    async def start(self) -> Snapshot:
        """Rebuild the ledger from the exchange and go on from its newest fill. Raises
        ``TemporaryError`` when the exchange or Redis cannot be read: do not serve the bot."""
        rebuilt = await self.reader.rebuild(
            stake=self.stake, fee_rate=self.fee_rate, slippage=self.slippage
        )
        snapshot = await _write(self.ledger, rebuilt)
        self._missing.clear()
        self.watermark = rebuilt.newest_fill_ms
        await self._record("rebuilt", f"committed={snapshot.committed:f} cap={snapshot.cap:f}")
        return snapshot

    async def run_forever(self, every_s: float = 2.0) -> None:
        """``run_once`` every ``every_s`` seconds until cancelled; nothing it meets stops it."""
        while True:
            try:
                await self.run_once()
            except Exception:  # a bug must not end reconciling: log it, try again
                logger.exception("reconcile pass of %s failed", self.bot)
            await asyncio.sleep(every_s)

    async def run_once(self) -> None:
        """One pass: count new fills, settle reservations, check balances. The exchange or
        Redis not answering is logged, not raised: the next pass catches up."""
        done = _Pass()
        try:
            await self._count(await self.reader.fills(self._since()), done)
            await self._settle(done)
            await self._check_balances(done)
        except TemporaryError as error:
            if isinstance(error, ExchangeRefused) and error.auth:
                self._last_auth = error.code
            failed = type(error).__name__
            self._log("reconcile_failed", logging.WARNING, error=failed, reason=str(error)[:300])
        if done.fills or done.released or done.found:
            self._log(
                "ledger_reconciled", fills=done.fills, released=done.released, found=done.found
            )
        await self._check_auth()

    def _since(self) -> int | None:
        return None if self.watermark is None else max(self.watermark - FILL_OVERLAP_MS, 0)

    def _log(self, name: str, level: int = logging.INFO, **fields: object) -> None:
        event(logger, name, level, bot=self.bot, **fields)

    async def _call(self, op: str, key: str, *args: Any) -> Any:
        """One Redis command on one of the bot's ledger keys, in a worker thread."""
        method = getattr(self.ledger.client, op)
        return await asyncio.to_thread(_redis, self.ledger, method, key, *args)

    async def _oids(self, op: str, *args: str) -> Any:
        """``hget``/``hset``/``hdel`` on the bot's orderId -> clientOid hash."""
        return await self._call(op, self.ledger.keys.ledger_oids, *args)

    # -- 1. fills -------------------------------------------------------------------------

    async def _count(self, fills: list[ExchangeFill], done: _Pass, *, advance: bool = True) -> None:
        """Count the fills not counted yet; ``advance``: they are the account's fills in
        order, so the watermark follows them (one order's fills say nothing of others')."""
        fills = [f for f in fills if _stake_symbol(f.symbol, self.stake)]
        # read ahead which are counted, so a pass does not run a script per fill of its
        # overlap; the scripts check again, atomically
        ids, ledger = [f.trade_id for f in fills], self.ledger
        known = await self._call("smismember", ledger.keys.ledger_fills, ids) if ids else []
        for fill, counted in zip(fills, known, strict=True):
            if not (counted and fill.trade_id):
                fee = await self.reader.fee_in(self.stake, fill)
                amounts = (fill.symbol, fill.size, fill.funds, fee)
                if fill.side == "buy":
                    oid = await self._client_oid_of(fill.order_id)
                    buy = functools.partial(ledger.fill, oid, *amounts, trade_id=fill.trade_id)
                    done.fills += bool(await asyncio.to_thread(buy))
                elif fill.side == "sell":
                    sell = functools.partial(ledger.sell_fill, *amounts, trade_id=fill.trade_id)
                    await asyncio.to_thread(sell)
                    done.fills += 1
            if advance:
                self.watermark = max(self.watermark or 0, fill.created_at)

    async def _client_oid_of(self, order_id: str) -> str:
        """The clientOid a buy was reserved under: remembered, else the hook's hash, else
        asked of the exchange (an order never reserved still counts, under its id)."""
        if order_id in self._known_oids:
            return self._known_oids[order_id]
        raw = await self._oids("hget", order_id)
        oid = raw.decode() if isinstance(raw, bytes) else None
        if oid is None:
            order = await self.reader.order_by_id(order_id)
            if order is not None and order.get("clientOid"):
                oid = str(order["clientOid"])
                await self._oids("hset", order_id, oid)
        if len(self._known_oids) > 10_000:
            self._known_oids.clear()
        self._known_oids[order_id] = oid = oid or f"{BY_ID}{order_id}"
        return oid

    # -- 2. reservations ------------------------------------------------------------------

    async def _settle(self, done: _Pass) -> None:
        """Each reservation against its order: an active one stays (a lost answer is
        found), a closed one releases what its fills, counted first, left; a missing one
        is released once missing for ``lost_after_s`` (the order never reached the
        exchange; the wait covers an order still on its way)."""
        state, lost = await asyncio.to_thread(self.ledger.state)
        oids = sorted(set(state.reservations) | lost)
        for gone in set(self._missing) - set(oids):
            del self._missing[gone]
        if not oids:
            return
        listed = {reservation_key(o): o for o in await self.reader.open_orders()}
        now = self.clock()
        for oid in oids:
            order = listed.get(oid) or await self.reader.order_by_client_oid(oid)
            if order is None:
                first = self._missing.setdefault(oid, now)
                if now - first >= self.lost_after_s:
                    released = await asyncio.to_thread(self.ledger.cancel, oid)
                    del self._missing[oid]
                    done.released.append(oid)
                    why = "lost answer, never on the exchange" if oid in lost else "not found"
                    await self._record("released", f"{why} after {now - first:.0f}s", oid, released)
                continue
            self._missing.pop(oid, None)
            order_id = str(order.get("id"))
            if is_active(order):
                if oid in lost:
                    await asyncio.to_thread(self.ledger.settle_order, oid, accepted=True)
                    done.found.append(oid)
                    await self._record("found", "lost answer, order on the exchange", oid)
                if self._known_oids.get(order_id) != oid:
                    await self._oids("hset", order_id, oid)
                    self._known_oids[order_id] = oid
                continue
            fills = await self.reader.fills(order_id=order_id)
            if sum((f.size for f in fills), Decimal(0)) < decimal(order.get("dealSize")):
                self._log("ledger_fills_pending", client_oid=oid)
                continue  # the exchange does not list all its fills yet: next pass
            await self._count(fills, done, advance=False)
            released = await asyncio.to_thread(self.ledger.cancel, oid)
            await self._oids("hdel", order_id)
            self._known_oids.pop(order_id, None)
            done.released.append(oid)
            await self._record("closed", "order done on the exchange", oid, released)

    # -- 3. balances ----------------------------------------------------------------------

    async def _check_balances(self, done: _Pass) -> None:
        """Each position against the exchange's balance of its base: a difference worth
        more than the tolerance, still there after counting new fills again (one may have
        landed between reading the ledger and the balances), halts the bot."""
        found: list[tuple[str, Decimal, Decimal, Decimal]] = []
        for attempt in range(MISMATCH_CHECKS):
            if attempt:
                await self._count(await self.reader.fills(self._since()), done)
            found = await self._mismatches()
            if not found:
                return
        for symbol, on_exchange, in_ledger, worth in found:
            mark = (symbol, on_exchange, in_ledger)
            if mark in self._halted_for:
                continue  # halted for this once; an operator's resume is respected
            self._log(
                "ledger_balance_mismatch",
                logging.ERROR,
                symbol=symbol,
                exchange=str(on_exchange),
                ledger=str(in_ledger),
                worth=f"{worth:.2f}",
            )
            await self._halt(
                f"BALANCE_MISMATCH symbol={symbol} exchange={on_exchange.normalize():f} "
                f"ledger={in_ledger.normalize():f} tolerance={self.tolerance}"
            )
            self._halted_for.add(mark)

    async def _mismatches(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        state, _ = await asyncio.to_thread(self.ledger.state)
        if not state.positions:
            return []
        balances = await self.reader.balances()
        found = []
        for symbol, position in sorted(state.positions.items()):
            in_ledger = from_units(position.qty)
            on_exchange = balances.get(symbol.partition("-")[0], Decimal(0))
            if on_exchange == in_ledger:
                continue
            ask = await self.reader.best_ask(symbol)
            if ask is None:
                self._log("ledger_balance_unpriced", logging.WARNING, symbol=symbol)
            elif (worth := abs(on_exchange - in_ledger) * ask) > self.tolerance:
                found.append((symbol, on_exchange, in_ledger, worth))
        return found

    async def _check_auth(self) -> None:
        """Halt once the real key is refused ``AUTH_FAILURES_TO_HALT`` times in a row."""
        failures = self.reader.auth_failures
        if failures == 0:
            self._auth_halted = False
        if failures < AUTH_FAILURES_TO_HALT or self._auth_halted:
            return
        self._log("upstream_auth_failed", logging.ERROR, failures=failures, code=self._last_auth)
        try:
            await self._halt(f"UPSTREAM_AUTH code={self._last_auth} failures={failures}")
        except TemporaryError as error:
            self._log("reconcile_failed", logging.WARNING, reason=str(error)[:300])
            return
        self._auth_halted = True

    async def _halt(self, reason: str) -> None:
        """Halt the bot, unless it is halted already: then its first reason stands, and
        this one goes on the decision stream."""
        current = await asyncio.to_thread(self.states.get, self.bot)
        if current.state is TradingState.HALTED:
            await self._record("halt-skipped", f"already halted; {reason}")
            return
        await asyncio.to_thread(self.states.halt, self.bot, reason, by="reconciler")

    async def _record(
        self, decision: str, reason: str, oid: str = "", amount: Decimal | None = None
    ) -> None:
        fields: dict[str, object] = {"kind": "reconcile", "decision": decision, "reason": reason}
        if oid:
            fields["client_oid"] = oid
        if amount is not None:
            fields["amount"] = str(amount)
        await asyncio.to_thread(functools.partial(self.states.record, self.bot, **fields))

    # -- kill -----------------------------------------------------------------------------

    async def kill(self, *, exit_positions: bool) -> KillReport:
        """Cancel every open buy of the bot; with ``exit_positions`` also its open sells
        (they hold the coins), then sell every coin its trading account holds at market
        (the sub-account is the bot's own: all of it is its position). The sells go
        straight out, past the order hook; the ledger counts them from their fills, in the
        pass this ends with. Halting the bot first is the caller's (``bulkhead kill``)."""
        report = KillReport(exit_positions)
        for order in await self.reader.open_orders():
            if order.get("side") != "buy" and not exit_positions:
                continue
            order_id = str(order.get("id"))
            try:
                if await self.reader.cancel(order_id):
                    report.cancelled.append(order_id)
                else:
                    report.not_cancelled[order_id] = self.reader.last_refusal
            except ExchangeReadError as error:
                report.not_cancelled[order_id] = str(error)[:200]
        if exit_positions:
            report.sold, report.not_sold = await self.reader.sell_holdings(self.stake)
        self._log("bot_killed", logging.WARNING, **report.as_dict())
        await self._record("kill", str(report.as_dict())[:500])
        await self.run_once()
        return report
