"""Typed models of bulkhead.yaml: a fleet of bots, each in its own compartment.

Strict (unknown fields refused), frozen (a loaded spec never changes under a running
bot) and validating only: nothing here rewrites the user's input.

A budget is expressed in the bot's stake currency (USDT by default). A "€50 bot" means
funding its sub-account with €50 worth of USDT at the rate of the day: Bulkhead never
converts, it only enforces the amount written here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from bulkhead.config.secrets import Credentials, SecretRef

BOT_NAME = r"^[a-z][a-z0-9-]{0,31}$"
PAIR = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w")
STAKE_CURRENCIES = ("USDT", "USDC")
#: share of the budget kept back so that fees on top of a full stake never overdraw it
FEE_RESERVE = Decimal("0.01")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exchange(_Strict):
    """Where the bot trades: real KuCoin, or a twin at a loopback URL for rehearsal."""

    target: Literal["kucoin"] | AnyHttpUrl = "kucoin"

    @property
    def is_twin(self) -> bool:
        return self.target != "kucoin"

    @property
    def twin_url(self) -> str:
        return str(self.target).rstrip("/")


class Budget(_Strict):
    amount: Decimal = Field(gt=0, le=1_000_000, description="most the bot may ever commit")
    currency: Literal["USDT", "USDC"] = "USDT"


class Strategy(_Strict):
    name: str = Field(description="a strategy from Bulkhead's registry")
    params: dict[str, Any] = Field(default_factory=dict)


class StoplossGuard(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=24, ge=1)
    trade_limit: int = Field(default=3, ge=1)
    stop_duration_candles: int = Field(default=12, ge=1)


class MaxDrawdown(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=48, ge=1)
    trade_limit: int = Field(default=5, ge=1)
    stop_duration_candles: int = Field(default=24, ge=1)
    max_allowed_drawdown: float = Field(default=0.15, gt=0, lt=1)


class CooldownPeriod(_Strict):
    enabled: bool = True
    stop_duration_candles: int = Field(default=2, ge=1)


class LowProfitPairs(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=72, ge=1)
    trade_limit: int = Field(default=4, ge=1)
    stop_duration_candles: int = Field(default=24, ge=1)
    required_profit: float = Field(default=0.0, ge=-1, le=1)


class Protections(_Strict):
    stoploss_guard: StoplossGuard = StoplossGuard()
    max_drawdown: MaxDrawdown = MaxDrawdown()
    cooldown_period: CooldownPeriod = CooldownPeriod()
    low_profit_pairs: LowProfitPairs = LowProfitPairs()


class Retention(_Strict):
    """How long each class of memory is kept. Trades are kept forever: only an explicit
    ``bulkhead memory prune --trades-older-than`` removes them."""

    events_days: float = Field(default=90, gt=0)
    equity_fine_days: float = Field(default=7, gt=0)
    equity_coarse_days: float = Field(default=365, gt=0)
    equity_coarse_every_s: int = Field(default=3600, ge=60)
    insights_days: float = Field(default=30, gt=0)


class MemorySection(_Strict):
    """The bot's memory in Redis (its own ACL user, its own key prefix)."""

    enabled: bool = True
    retention: Retention = Retention()
    #: how often the recorder re-reads Freqtrade's database to catch up on anything missed
    reconcile_every_s: int = Field(default=60, ge=5)


class MemoryDeployment(_Strict):
    """Where the deployment's Redis is: embedded (default) or a real server."""

    #: a real server, e.g. redis://127.0.0.1:6379/0; unset runs an embedded one
    redis_url: str | None = None
    admin_username: str = "bulkhead-admin"
    admin_password: SecretRef | None = None
    #: append-only fsync policy of the embedded server
    fsync: Literal["always", "everysec"] = "always"


class RiskSection(_Strict):
    """Reserved for the risk guard; empty for now."""


class Bot(_Strict):
    name: Annotated[str, Field(pattern=BOT_NAME)]
    exchange: Exchange = Exchange()
    subaccount: str = Field(min_length=1, max_length=64)
    credentials: Credentials
    budget: Budget
    pairs: list[str] = Field(min_length=1, max_length=50)
    timeframe: Literal[
        "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"
    ] = "5m"
    strategy: Strategy
    stoploss: float = Field(default=-0.05, ge=-0.5, lt=0, description="fraction, e.g. -0.05")
    max_open_trades: int = Field(default=1, ge=1, le=20)
    protections: Protections = Protections()
    mode: Literal["dry_run", "live"] = "dry_run"
    require_ip_whitelist: bool = False
    memory: MemorySection = MemorySection()
    risk: RiskSection = RiskSection()

    @field_validator("pairs")
    @classmethod
    def _pairs_are_symbols(cls, pairs: list[str]) -> list[str]:
        for pair in pairs:
            if not PAIR.match(pair):
                raise ValueError(f"pair {pair!r} is not BASE/QUOTE, e.g. XRP/USDT")
        if len(set(pairs)) != len(pairs):
            raise ValueError("pairs are listed twice")
        return pairs

    @model_validator(mode="after")
    def _pairs_trade_in_stake_currency(self) -> Bot:
        for pair in self.pairs:
            if pair.split("/")[1] != self.budget.currency:
                raise ValueError(
                    f"pair {pair} is not quoted in the budget currency {self.budget.currency}"
                )
        return self

    @property
    def stake_per_trade(self) -> Decimal:
        """Equal slices of the budget, so max_open_trades trades together never exceed it.

        1 % stays back for entry fees (KuCoin charges them on top, in the quote currency).
        """
        usable = self.budget.amount * (1 - FEE_RESERVE)
        return (usable / self.max_open_trades).quantize(Decimal("0.01"), "ROUND_DOWN")


class Fleet(_Strict):
    version: Literal[1] = 1
    memory: MemoryDeployment = MemoryDeployment()
    bots: list[Bot] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Fleet:
        names = [bot.name for bot in self.bots]
        if len(set(names)) != len(names):
            raise ValueError("bot names must be unique")
        subs = [bot.subaccount for bot in self.bots if bot.mode == "live"]
        if len(set(subs)) != len(subs):
            raise ValueError("two live bots share a sub-account: each needs its own")
        return self

    def bot(self, name: str) -> Bot:
        for bot in self.bots:
            if bot.name == name:
                return bot
        raise KeyError(name)
