"""The twin's state as typed records, so a snapshot is one JSON dump and one validate away.

Amounts are ``Decimal``: balances must add up to the last satoshi after thousands of fills,
which binary floats cannot promise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bulkhead.kucoin import PERMISSIONS as KUCOIN_PERMISSIONS
from bulkhead.kucoin import SUB_ACCOUNT_PERMISSIONS as SUB_ACCOUNT_PERMISSIONS
from bulkhead.sim.prices import PriceSourceSpec

AccountType = Literal["main", "trade", "trade_hf"]
ACCOUNT_TYPES: tuple[AccountType, ...] = ("main", "trade", "trade_hf")
UserMode = Literal["classic", "hf"]
ExchangeStatus = Literal["open", "close", "cancelonly"]

#: Every permission KuCoin can put on a key, in KuCoin's spelling (shared with preflight).
PERMISSIONS = frozenset(KUCOIN_PERMISSIONS)


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


@dataclass(slots=True)
class Balance:
    """One currency in one account; mutated on every fill, so a plain dataclass."""

    balance: Decimal = Decimal(0)
    holds: Decimal = Decimal(0)

    @property
    def available(self) -> Decimal:
        return self.balance - self.holds


class User(_State):
    uid: str
    name: str
    is_master: bool
    parent_uid: str | None = None
    mode: UserMode = "classic"
    frozen: bool = False
    created_at: int = 0
    #: account type -> currency -> balance
    accounts: dict[str, dict[str, Balance]] = Field(default_factory=dict)

    @property
    def trade_account(self) -> AccountType:
        """HF users trade from ``trade_hf``, classic ones from ``trade``, as on KuCoin."""
        return "trade_hf" if self.mode == "hf" else "trade"

    def find_balance(self, account_type: str, currency: str) -> Balance | None:
        """The balance if this account ever held the currency; unlike ``balance``, it
        creates nothing (a refused order must not leave an empty balance row behind)."""
        return self.accounts.get(account_type, {}).get(currency)

    def balance(self, account_type: str, currency: str) -> Balance:
        per_currency = self.accounts.setdefault(account_type, {})
        found = per_currency.get(currency)
        if found is None:
            found = per_currency[currency] = Balance()
        return found


class ApiKey(_State):
    api_key: str
    secret: str
    passphrase: str
    uid: str
    name: str = ""
    version: int = 2
    permissions: list[str] = Field(default_factory=lambda: ["General"])
    ip_whitelist: list[str] = Field(default_factory=list)
    remark: str = ""
    created_at: int = 0


@dataclass(slots=True)
class Order:
    """An order; a plain slotted dataclass, since one is built and mutated per request."""

    id: str
    uid: str
    symbol: str
    side: Literal["buy", "sell"]
    type: Literal["limit", "market"]
    price: Decimal = Decimal(0)
    size: Decimal = Decimal(0)
    funds: Decimal = Decimal(0)
    deal_size: Decimal = Decimal(0)
    deal_funds: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    time_in_force: Literal["GTC", "GTT", "IOC", "FOK"] = "GTC"
    post_only: bool = False
    stop: Literal["", "loss", "entry"] = ""
    stop_price: Decimal = Decimal(0)
    stop_triggered: bool = False
    is_active: bool = True
    cancel_exist: bool = False
    client_oid: str = ""
    remark: str = ""
    tags: str = ""
    hf: bool = False
    created_at: int = 0
    updated_at: int = 0
    #: currency and amount still frozen for this order
    hold_currency: str = ""
    hold_amount: Decimal = Decimal(0)
    #: the matching engine has looked at the price path up to this time
    checked_until: int = 0


@dataclass(slots=True)
class Fill:
    """One execution of an order; plain dataclass for the same reason as ``Order``."""

    trade_id: str
    order_id: str
    counter_order_id: str
    uid: str
    symbol: str
    side: Literal["buy", "sell"]
    liquidity: Literal["taker", "maker"]
    price: Decimal
    size: Decimal
    funds: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_currency: str
    stop: str = ""
    type: str = "limit"
    hf: bool = False
    created_at: int = 0


@dataclass(slots=True)
class LedgerEntry:
    """One change to one balance of an HF trading account (``trade_hf``), as
    ``/api/v1/hf/accounts/ledgers`` lists it: a trade's two legs, a transfer in or out."""

    id: int
    uid: str
    currency: str
    #: how much the balance moved (``direction`` says which way), fees included
    amount: Decimal
    fee: Decimal
    #: the balance right after the change
    balance: Decimal
    biz_type: Literal["TRADE_EXCHANGE", "TRANSFER"]
    direction: Literal["in", "out"]
    created_at: int
    #: KuCoin's "core parameters" of the change, as JSON text (a trade's symbol and ids)
    context: str = ""


class MoneyMovement(_State):
    """A transfer or withdrawal attempt, accepted or refused: the audit trail of fund moves."""

    id: str
    kind: Literal["universal-transfer", "inner-transfer", "sub-transfer", "withdrawal"]
    api_key: str
    uid: str | None
    accepted: bool
    code: str
    reason: str = ""
    request: dict[str, object] = Field(default_factory=dict)
    created_at: int = 0


class AuthRefusal(_State):
    """A private request refused before it reached its handler (bad key, sign, IP…)."""

    method: str
    path: str
    api_key: str
    code: str
    ip: str
    created_at: int


class SymbolSpec(_State):
    symbol: str
    base: str
    quote: str
    base_min_size: Decimal
    quote_min_size: Decimal
    base_max_size: Decimal = Decimal("10000000000")
    quote_max_size: Decimal = Decimal("99999999")
    base_increment: Decimal
    quote_increment: Decimal
    price_increment: Decimal
    min_funds: Decimal = Decimal("0.1")
    price_limit_rate: Decimal = Decimal("0.1")
    taker_fee_rate: Decimal = Decimal("0.001")
    maker_fee_rate: Decimal = Decimal("0.001")
    #: relative bid/ask spread around the path price
    spread: Decimal = Decimal("0.0004")
    enable_trading: bool = True
    source: PriceSourceSpec


class FaultSpec(_State):
    """One fault, injected through the admin API or a scenario until cleared or used up."""

    kind: Literal["latency", "error500", "ratelimit", "drop"]
    #: only requests whose path starts with this prefix are affected
    path_prefix: str = "/api/"
    #: how many requests it hits before it wears off; None means until cleared
    count: int | None = None
    probability: float = Field(default=1.0, ge=0.0, le=1.0, allow_inf_nan=False)
    #: bounded (10 minutes) so that no fault can park a request for ever
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    #: for ``drop``: how long the connection hangs before being abandoned (at most 1 hour)
    hold_s: float = Field(default=30.0, ge=0.0, le=3600.0, allow_inf_nan=False)


class ExchangeState(_State):
    """Everything the twin knows; a snapshot is exactly this model as JSON."""

    anchor_ms: int
    #: where relative replay paths resolve (the scenario's folder), kept across reloads
    base_dir: str | None = None
    status: ExchangeStatus = "open"
    users: dict[str, User] = Field(default_factory=dict)
    keys: dict[str, ApiKey] = Field(default_factory=dict)
    symbols: dict[str, SymbolSpec] = Field(default_factory=dict)
    orders: dict[str, Order] = Field(default_factory=dict)
    fills: list[Fill] = Field(default_factory=list)
    #: every change to an HF trading account, oldest first
    hf_ledger: list[LedgerEntry] = Field(default_factory=list)
    movements: list[MoneyMovement] = Field(default_factory=list)
    auth_refusals: list[AuthRefusal] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    #: weight per 30 s window per key; None leaves the quota unenforced
    rate_limit_quota: int | None = None
    #: market time runs this far ahead of the wall clock (``/sim/v1/clock/advance``)
    clock_offset_ms: int = 0
    #: ids minted so far; kept current by ``Twin`` (see ``Twin.synced_state``)
    sequence: int = 0
