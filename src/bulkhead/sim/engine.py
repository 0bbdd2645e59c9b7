"""The twin's exchange core: users, keys, balances, symbols, fund movements and snapshots.

Order matching lives in ``matching``; this module owns the records it works on. One
``Twin`` is built at the entry point and handed to the HTTP layer: no globals.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Literal

from bulkhead.errors import OperatorError
from bulkhead.plumbing import write_private
from bulkhead.sim import errors, limits
from bulkhead.sim.models import (
    ACCOUNT_TYPES,
    PERMISSIONS,
    SUB_ACCOUNT_PERMISSIONS,
    ApiKey,
    AuthRefusal,
    Balance,
    ExchangeState,
    LedgerEntry,
    MoneyMovement,
    SymbolSpec,
    User,
    UserMode,
)
from bulkhead.sim.prices import PriceSource, build_price_source


class TwinConfigError(OperatorError, ValueError):
    """An admin or scenario request the twin cannot honour: the caller must fix its input."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Twin:
    def __init__(
        self,
        state: ExchangeState,
        base_dir: Path | None = None,
        wall_clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.state = state
        if base_dir is not None:
            state.base_dir = str(base_dir.resolve())
        self.base_dir = Path(state.base_dir) if state.base_dir else None
        self._wall_clock = wall_clock
        self._sources: dict[str, PriceSource] = {}
        #: the latest quote per symbol, with its market millisecond (see ``quote``)
        self._quotes: dict[str, tuple[int, tuple[Decimal, Decimal, Decimal]]] = {}
        self._client_oids: dict[tuple[str, str], str] = {
            (order.uid, order.client_oid): order.id
            for order in state.orders.values()
            if order.client_oid
        }
        #: the number of the last id minted. Ids are minted several per order, and a
        #: write to a model attribute costs as much as the rest of minting one, so the
        #: count lives here and reaches ``state.sequence`` when the state is read whole
        #: (``synced_state``: snapshots, the admin dump).
        self._sequence = state.sequence
        #: working orders per user, in placement order: matching only ever walks these
        self.active_orders: dict[str, dict[str, None]] = {}
        for order in state.orders.values():
            if order.is_active:
                self.active_orders.setdefault(order.uid, {})[order.id] = None
        #: refused movements on record, so the ring (``limits.MAX_REFUSED_MOVEMENTS``)
        #: is kept without counting the whole log on every refusal
        self._refused_movements = sum(1 for m in state.movements if not m.accepted)

    def activate(self, order_id: str, uid: str) -> None:
        self.active_orders.setdefault(uid, {})[order_id] = None

    def deactivate(self, order_id: str, uid: str) -> None:
        self.active_orders.get(uid, {}).pop(order_id, None)

    def active_order_ids(self, uid: str | None = None) -> list[str]:
        if uid is not None:
            return list(self.active_orders.get(uid, ()))
        return [order_id for per_user in self.active_orders.values() for order_id in per_user]

    @classmethod
    def empty(cls, base_dir: Path | None = None) -> Twin:
        return cls(ExchangeState(anchor_ms=wall_clock_ms()), base_dir)

    # -- time -------------------------------------------------------------------------

    def wall_ms(self) -> int:
        """Real time: what signatures are checked against."""
        return self._wall_clock()

    def now_ms(self) -> int:
        """Market time: the wall clock plus any offset a test advanced it by."""
        return self._wall_clock() + self.state.clock_offset_ms

    def advance_clock(self, seconds: float) -> None:
        """Move market time forward, at most ``limits.MAX_CLOCK_OFFSET_S`` past the wall
        clock in all: every price path is generated up to market time, so an unbounded
        jump would be an unbounded amount of memory."""
        if not math.isfinite(seconds) or seconds < 0:
            raise TwinConfigError("the market clock only moves forward, by a finite time")
        offset_ms = self.state.clock_offset_ms + int(seconds * 1000)
        if offset_ms > limits.MAX_CLOCK_OFFSET_S * 1000:
            raise TwinConfigError(
                f"market time may run at most {limits.MAX_CLOCK_OFFSET_S} s ahead of the wall clock"
            )
        self.state.clock_offset_ms = offset_ms

    def next_id(self, now_ms: int | None = None) -> str:
        """A 24-hex id shaped like KuCoin's, unique within this twin (also across reloads).

        ``now_ms`` is the market time when the caller already has it (ids are minted
        several per order, on the hot path).
        """
        self._sequence = sequence = self._sequence + 1
        if now_ms is None:
            now_ms = self.now_ms()
        # printf-style: half the cost of an f-string with format specs, on the hot path
        return "%08x%016x" % (now_ms // 1000, sequence)  # noqa: UP031

    @property
    def sequence(self) -> int:
        """How many ids the twin has minted: it grows with every order, fill and movement."""
        return self._sequence

    def synced_state(self) -> ExchangeState:
        """The whole state, up to date, for a snapshot or a dump."""
        self.state.sequence = self._sequence
        return self.state

    # -- users and keys ---------------------------------------------------------------

    @property
    def master(self) -> User | None:
        return next((user for user in self.state.users.values() if user.is_master), None)

    def user_by_name(self, name: str) -> User:
        for user in self.state.users.values():
            if user.name == name:
                return user
        raise TwinConfigError(f"no user named {name!r}")

    def create_user(self, name: str, *, master: bool = False, mode: UserMode = "classic") -> User:
        if not name or any(user.name == name for user in self.state.users.values()):
            raise TwinConfigError(f"user name {name!r} is empty or taken")
        parent = None
        if master:
            if self.master is not None:
                raise TwinConfigError("the twin already has a master user")
        else:
            if self.master is None:
                raise TwinConfigError("create the master user before sub-accounts")
            parent = self.master.uid
        uid = str(10_000_000 + len(self.state.users) + 1)
        user = User(
            uid=uid,
            name=name,
            is_master=master,
            parent_uid=parent,
            mode=mode,
            created_at=self.now_ms(),
        )
        self.state.users[uid] = user
        return user

    def sub_users(self) -> list[User]:
        return [user for user in self.state.users.values() if not user.is_master]

    def create_key(
        self,
        user: User,
        permissions: Iterable[str] = ("General",),
        *,
        ip_whitelist: Iterable[str] = (),
        passphrase: str | None = None,
        name: str = "",
        remark: str = "",
        version: int = 2,
    ) -> ApiKey:
        wanted = sorted(set(permissions) | {"General"})
        unknown = set(wanted) - PERMISSIONS
        if unknown:
            raise TwinConfigError(
                f"unknown permission(s) {sorted(unknown)}; allowed: {sorted(PERMISSIONS)}"
            )
        if not user.is_master and not set(wanted) <= SUB_ACCOUNT_PERMISSIONS:
            refused = sorted(set(wanted) - SUB_ACCOUNT_PERMISSIONS)
            raise TwinConfigError(f"a sub-account key cannot carry {refused}")
        if version not in (1, 2, 3):
            raise TwinConfigError("key version must be 1, 2 or 3")
        key = ApiKey(
            api_key=secrets.token_hex(12),
            secret=str(uuid.uuid4()),
            passphrase=passphrase or secrets.token_urlsafe(12),
            uid=user.uid,
            name=name,
            version=version,
            permissions=wanted,
            ip_whitelist=list(ip_whitelist),
            remark=remark,
            created_at=self.now_ms(),
        )
        self.state.keys[key.api_key] = key
        return key

    def user_of(self, key: ApiKey) -> User:
        return self.state.users[key.uid]

    # -- balances ---------------------------------------------------------------------

    def set_balance(self, user: User, currency: str, amount: Decimal, account: str) -> None:
        if account not in ACCOUNT_TYPES:
            raise TwinConfigError(f"account type {account!r} is not one of {ACCOUNT_TYPES}")
        if amount < 0:
            raise TwinConfigError("a balance cannot be negative")
        balance = user.balance(account, currency)
        if amount < balance.holds:
            raise TwinConfigError("a balance cannot drop below what open orders hold")
        balance.balance = amount

    def record_hf_change(
        self,
        user: User,
        currency: str,
        change: Decimal,
        biz_type: Literal["TRADE_EXCHANGE", "TRANSFER"],
        now_ms: int,
        *,
        fee: Decimal = Decimal(0),
        context: str = "",
    ) -> None:
        """Put a change of ``user``'s ``trade_hf`` balance on its ledger, once made:
        ``change`` is signed (the direction), the balance is read as it now stands."""
        self._sequence = number = self._sequence + 1
        self.state.hf_ledger.append(
            LedgerEntry(
                id=number,
                uid=user.uid,
                currency=currency,
                amount=abs(change),
                fee=fee,
                balance=user.balance("trade_hf", currency).balance,
                biz_type=biz_type,
                direction="in" if change > 0 else "out",
                created_at=now_ms,
                context=context,
            )
        )

    def move(self, source: Balance, target: Balance, amount: Decimal) -> None:
        """Move available funds between two balances; refuses to overdraw."""
        if amount <= 0:
            raise errors.bad_parameter("amount must be positive")
        if source.available < amount:
            raise errors.insufficient_balance()
        source.balance -= amount
        target.balance += amount

    # -- markets ----------------------------------------------------------------------

    def add_symbol(self, spec: SymbolSpec) -> None:
        source = build_price_source(spec.source, self.state.anchor_ms, self.base_dir)
        self.state.symbols[spec.symbol] = spec
        self._sources[spec.symbol] = source
        self._quotes.pop(spec.symbol, None)

    def symbol(self, symbol: str) -> SymbolSpec:
        spec = self.state.symbols.get(symbol)
        if spec is None:
            raise errors.unknown_symbol()
        return spec

    def source(self, symbol: str) -> PriceSource:
        source = self._sources.get(symbol)
        if source is None:
            spec = self.symbol(symbol)
            source = build_price_source(spec.source, self.state.anchor_ms, self.base_dir)
            self._sources[symbol] = source
        return source

    def quote(self, symbol: str, at_ms: int | None = None) -> tuple[Decimal, Decimal, Decimal]:
        """(bid, ask, last) around the price path, on the symbol's price grid.

        The quote is a pure function of the symbol and the millisecond, and a busy twin
        asks for the same one many times per millisecond (an order's hold and its fill,
        every bot polling the ticker), so the latest one per symbol is kept.
        """
        t_ms = self.now_ms() if at_ms is None else at_ms
        cached = self._quotes.get(symbol)
        if cached is not None and cached[0] == t_ms:
            return cached[1]
        spec = self.symbol(symbol)
        mid = Decimal(repr(self.source(symbol).price_at(t_ms)))
        quote = self.quote_around(spec, mid)
        self._quotes[symbol] = (t_ms, quote)
        return quote

    @staticmethod
    def quote_around(spec: SymbolSpec, mid: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        tick = spec.price_increment
        half = mid * spec.spread / 2
        bid = ((mid - half) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        ask = ((mid + half) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
        if ask <= bid:
            ask = bid + tick
        last = (mid / tick).to_integral_value(rounding="ROUND_HALF_EVEN") * tick
        return max(bid, tick), ask, max(last, tick)

    # -- fund movements ---------------------------------------------------------------

    def record_movement(
        self,
        kind: str,
        key: ApiKey | None,
        accepted: bool,
        code: str,
        request: object,
        reason: str = "",
        api_key: str = "",
    ) -> MoneyMovement:
        """Log a transfer or withdrawal attempt, with a bounded summary of its request.

        Accepted movements are kept for good (they moved money); refused ones form a
        ring of the latest ``limits.MAX_REFUSED_MOVEMENTS``, since anyone who can reach
        the twin can make them, signed or not.
        """
        movement = MoneyMovement.model_validate(
            {
                "id": self.next_id(),
                "kind": kind,
                "api_key": key.api_key if key else _cut(api_key, limits.MAX_RECORDED_KEY_CHARS),
                "uid": key.uid if key else None,
                "accepted": accepted,
                "code": code,
                "reason": _cut(reason, limits.MAX_RECORDED_VALUE_CHARS),
                "request": summarize_request(request),
                "created_at": self.now_ms(),
            }
        )
        movements = self.state.movements
        movements.append(movement)
        if not accepted:
            self._refused_movements += 1
            if self._refused_movements > limits.MAX_REFUSED_MOVEMENTS:
                oldest = next(i for i, m in enumerate(movements) if not m.accepted)
                del movements[oldest]
                self._refused_movements -= 1
        return movement

    def record_auth_refusal(self, method: str, path: str, api_key: str, code: str, ip: str) -> None:
        """Log a refused private request; the latest ``limits.MAX_AUTH_REFUSALS`` are kept."""
        refusals = self.state.auth_refusals
        refusals.append(
            AuthRefusal(
                method=_cut(method, limits.MAX_RECORDED_NAME_CHARS),
                path=_cut(path, limits.MAX_RECORDED_PATH_CHARS),
                api_key=_cut(api_key, limits.MAX_RECORDED_KEY_CHARS),
                code=code,
                ip=_cut(ip, limits.MAX_RECORDED_NAME_CHARS),
                created_at=self.now_ms(),
            )
        )
        if len(refusals) > limits.MAX_AUTH_REFUSALS:
            del refusals[: len(refusals) - limits.MAX_AUTH_REFUSALS]

    # -- client order ids -------------------------------------------------------------

    def order_id_for_client_oid(self, uid: str, client_oid: str) -> str | None:
        return self._client_oids.get((uid, client_oid))

    def remember_client_oid(self, uid: str, client_oid: str, order_id: str) -> None:
        self._client_oids[(uid, client_oid)] = order_id

    # -- snapshots --------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the state owner-only and atomically: it holds every key's secret, and a
        crash mid-write must never leave half a snapshot. ``path`` is the operator's own
        choice (``--state``), so its folder is created (0700) when missing."""
        write_private(path, self.synced_state().model_dump_json().encode())

    @classmethod
    def load(
        cls,
        path: Path,
        base_dir: Path | None = None,
        wall_clock: Callable[[], int] = wall_clock_ms,
    ) -> Twin:
        try:
            state = ExchangeState.model_validate_json(path.read_text())
        except (OSError, ValueError) as error:
            raise TwinConfigError(f"cannot load snapshot {path}: {error}") from None
        twin = cls(state, base_dir, wall_clock)
        for symbol in state.symbols:
            twin.source(symbol)
        return twin


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def summarize_request(request: object) -> dict[str, object]:
    """What a movement record keeps of a request body: a few fields, each value cut short.

    Enough to see what was asked for (currency, amount, direction, account ids), never
    the whole of whatever a client sent: a scalar is kept (a long string cut), a nested
    list or object is replaced by its size.
    """
    if not isinstance(request, dict):
        return {"unparsed": _cut(str(request), limits.MAX_RECORDED_VALUE_CHARS)}
    summary: dict[str, object] = {}
    for index, (name, value) in enumerate(request.items()):
        if index == limits.MAX_RECORDED_FIELDS:
            summary["…"] = f"{len(request) - index} more field(s)"
            break
        kept: object
        if value is None or isinstance(value, bool | int | float):
            kept = value
        elif isinstance(value, str):
            kept = _cut(value, limits.MAX_RECORDED_VALUE_CHARS)
        elif isinstance(value, list | dict):
            kept = f"<{type(value).__name__} of {len(value)}>"
        else:
            kept = _cut(str(value), limits.MAX_RECORDED_VALUE_CHARS)
        summary[_cut(str(name), limits.MAX_RECORDED_NAME_CHARS)] = kept
    return summary
