"""Typed models of bulkhead.yaml: a fleet of bots, each in its own compartment.

Strict (unknown fields refused), frozen (a loaded spec never changes under a running
bot) and validating only: nothing here rewrites the user's input.

A budget is expressed in the bot's stake currency (USDT by default). A "€50 bot" means
funding its sub-account with €50 worth of USDT at the rate of the day: Bulkhead never
converts, it only enforces the amount written here.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from bulkhead.config.advisor import AdvisorDeployment, BotAdvisor, without_provider
from bulkhead.config.guard_rules import GuardRules
from bulkhead.config.problems import FieldProblem, Location, shown
from bulkhead.config.secrets import Credentials, SecretRef
from bulkhead.config.strict import Strict as _Strict

BOT_NAME = r"^[a-z][a-z0-9-]{0,31}$"
PAIR = re.compile(r"[A-Z0-9]{1,20}/[A-Z0-9]{1,20}")
#: share of the budget kept back so that fees on top of a full stake never overdraw it
FEE_RESERVE = Decimal("0.01")
#: the precision stakes are rendered at (USDT and USDC are both counted in cents here)
STAKE_PRECISION = Decimal("0.01")
#: The smallest stake a bot may have. KuCoin's minFunds and quoteMinSize for USDT and
#: USDC spot pairs are 0.1 (the twin derives the same 0.1 for every symbol, see
#: sim/scenario.py), so a smaller stake can never place an order on any pair: the bot
#: would run without ever trading, and a stake rounded to 0 fails Freqtrade's config
#: schema (minimum 0.0001) at start, so its supervisor restarts it forever. Dry-run
#: bots skip preflight, so the spec holds them to it. A pair's own minimum (size x
#: price, and Freqtrade's padding for the stop-loss) is preflight's question.
MIN_STAKE = Decimal("0.1")
#: the names that reach a twin on this machine only (with every 127.0.0.0/8 and ::1)
LOOPBACK_NAMES = frozenset({"localhost"})
#: most days a retention may keep: "forever" in practice, yet its cut-off in milliseconds
#: stays far inside the 64-bit integers Redis takes (1e300 days would not)
MAX_DAYS = 1_000_000
#: most candles a protection may look back or stop for
MAX_CANDLES = 10_000


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (a URL's host, brackets and all)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


class Exchange(_Strict):
    """Where the bot trades: real KuCoin, or a KuCoin twin to rehearse against.

    The bot's key goes wherever ``target`` points, and preflight believes what that
    host says about the key. So a twin must be on this machine (127.0.0.0/8, ::1 or
    localhost) unless ``remote_twin: true`` says that a twin elsewhere is meant, such as
    the Compose service ``http://twin:8080``. Even then plain http is only for a
    single-label name (a service on the Compose network, resolved inside it); a twin
    at any other address must speak https, so the key never crosses a network in clear.
    """

    target: Literal["kucoin"] | AnyHttpUrl = "kucoin"
    remote_twin: bool = Field(
        default=False,
        strict=True,
        description="true: the twin at target may be on another host (e.g. http://twin:8080)",
    )

    @field_validator("target", mode="wrap")
    @classmethod
    def _kucoin_or_a_url(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        """One line for a bad target, not one per member of the union it failed."""
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(
                "should be kucoin or a twin URL such as http://127.0.0.1:8899"
            ) from None

    @model_validator(mode="after")
    def _twin_is_where_it_is_meant_to_be(self) -> Exchange:
        if isinstance(self.target, str):
            if self.remote_twin:
                raise FieldProblem(
                    (
                        ("remote_twin",),
                        "remote_twin: true is only for a twin URL; target is kucoin "
                        "(allowed: remote_twin: false, or a twin URL as target)",
                    )
                )
            return self
        url = self.target
        if url.username or url.password:
            raise FieldProblem(
                (
                    ("target",),
                    "a twin URL may not carry a user or password (the URL is not shown; "
                    "allowed: http://HOST:PORT)",
                )
            )
        if url.query is not None or url.fragment is not None:
            raise FieldProblem(
                (
                    ("target",),
                    f"a twin URL has no query or fragment (got {shown(str(url))}; "
                    "allowed: http://HOST:PORT)",
                )
            )
        host = url.host or ""
        if is_loopback(host):
            return self
        if not self.remote_twin:
            raise FieldProblem(
                (
                    ("target",),
                    f"a twin must be on this machine (127.0.0.0/8, ::1 or localhost), since "
                    f"the bot's key is sent to it and preflight trusts its answers (got "
                    f"{shown(str(url))}); set exchange.remote_twin: true to mean a twin "
                    "elsewhere, e.g. http://twin:8080 in Docker Compose",
                )
            )
        if url.scheme == "http" and ("." in host or ":" in host):
            raise FieldProblem(
                (
                    ("target",),
                    f"a remote twin over plain http must be a single-label name such as a "
                    f"Compose service (http://twin:8080); elsewhere use https (got "
                    f"{shown(str(url))})",
                )
            )
        return self

    @property
    def is_twin(self) -> bool:
        return self.target != "kucoin"

    @property
    def twin_url(self) -> str:
        return str(self.target).rstrip("/")


class Budget(_Strict):
    amount: Decimal = Field(
        gt=0, le=1_000_000, decimal_places=8, description="most the bot may ever commit"
    )
    currency: Literal["USDT", "USDC"] = "USDT"


#: a class name Freqtrade can load (a Python identifier, ASCII)
CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Strategy(_Strict):
    """Which strategy a bot runs: a bundled one by ``name``, or the user's own ``file`` and
    ``class``. Only the shape is checked here; whether the class loads, and is one Bulkhead
    will run, is the Freqtrade adapter's question, asked before any process starts."""

    # dumped as written (``class:``), so a dumped spec loads again
    model_config = ConfigDict(serialize_by_alias=True)

    name: str | None = Field(
        default=None, max_length=64, description="a bundled strategy (TwinScalper, SampleStrategy)"
    )
    file: str | None = Field(
        default=None,
        max_length=255,
        description="a Freqtrade strategy file of yours, relative to bulkhead.yaml",
    )
    class_name: str | None = Field(
        default=None, alias="class", description="the IStrategy class in that file"
    )
    #: Freqtrade parameters the strategy declares (and its minimal_roi/stoploss-style
    #: attributes), written as its parameter file, so JSON values only
    params: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("file")
    @classmethod
    def _a_python_file_beside_the_spec(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.endswith(".py") or not all(c.isprintable() for c in value):
            raise ValueError("should be a Python file such as strategies/my_strategy.py")
        if value.startswith(("/", "~")) or "\\" in value or re.match(r"[A-Za-z]:", value):
            raise ValueError(
                "should be a path relative to bulkhead.yaml, with / between folders, "
                "such as strategies/my_strategy.py"
            )
        return value

    @field_validator("class_name")
    @classmethod
    def _a_python_class_name(cls, value: str | None) -> str | None:
        if value is not None and not CLASS_NAME.fullmatch(value):
            raise ValueError("should be the name of a Python class, such as MyStrategy")
        return value

    @model_validator(mode="after")
    def _one_way_of_naming(self) -> Strategy:
        if self.name is not None and (self.file is not None or self.class_name is not None):
            raise ValueError(
                "name a bundled strategy (name:) or your own (file: and class:), not both"
            )
        if self.name is None and (self.file is None or self.class_name is None):
            raise ValueError("needs name: (a bundled strategy) or both file: and class:")
        return self


class StoplossGuard(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=24, ge=1, le=MAX_CANDLES)
    trade_limit: int = Field(default=3, ge=1, le=1_000)
    stop_duration_candles: int = Field(default=12, ge=1, le=MAX_CANDLES)


class MaxDrawdown(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=48, ge=1, le=MAX_CANDLES)
    trade_limit: int = Field(default=5, ge=1, le=1_000)
    stop_duration_candles: int = Field(default=24, ge=1, le=MAX_CANDLES)
    max_allowed_drawdown: float = Field(default=0.15, gt=0, lt=1)


class CooldownPeriod(_Strict):
    enabled: bool = True
    stop_duration_candles: int = Field(default=2, ge=1, le=MAX_CANDLES)


class LowProfitPairs(_Strict):
    enabled: bool = True
    lookback_period_candles: int = Field(default=72, ge=1, le=MAX_CANDLES)
    trade_limit: int = Field(default=4, ge=1, le=1_000)
    stop_duration_candles: int = Field(default=24, ge=1, le=MAX_CANDLES)
    required_profit: float = Field(default=0.0, ge=-1, le=1)


class Protections(_Strict):
    stoploss_guard: StoplossGuard = StoplossGuard()
    max_drawdown: MaxDrawdown = MaxDrawdown()
    cooldown_period: CooldownPeriod = CooldownPeriod()
    low_profit_pairs: LowProfitPairs = LowProfitPairs()


class Retention(_Strict):
    """How long each class of memory is kept. Trades are kept forever: only an explicit
    ``bulkhead memory prune --trades-older-than`` removes them."""

    events_days: float = Field(default=90, gt=0, le=MAX_DAYS)
    equity_fine_days: float = Field(default=7, gt=0, le=MAX_DAYS)
    equity_coarse_days: float = Field(default=365, gt=0, le=MAX_DAYS)
    equity_coarse_every_s: int = Field(default=3600, ge=60, le=7 * 86_400)
    insights_days: float = Field(default=30, gt=0, le=MAX_DAYS)


class MemorySection(_Strict):
    """The bot's memory in Redis (its own ACL user, its own key prefix)."""

    enabled: bool = True
    retention: Retention = Retention()
    #: how often the recorder re-reads Freqtrade's database to catch up on anything missed
    reconcile_every_s: int = Field(default=60, ge=5, le=86_400)


class MemoryDeployment(_Strict):
    """Where the deployment's Redis is: embedded (default) or a real server."""

    #: a real server, e.g. redis://127.0.0.1:6379/0; unset runs an embedded one
    redis_url: str | None = None
    admin_username: str = "bulkhead-admin"
    admin_password: SecretRef | None = None
    #: append-only fsync policy of the embedded server
    fsync: Literal["always", "everysec"] = "always"


class RiskSection(_Strict):
    """The hard limits the order gateway enforces on every order of the bot, and (``guard``)
    the risk guard's rules that move it between ACTIVE, REDUCING and HALTED.

    The budget ledger counts each buy at its worst case: a limit buy at size x price x
    (1 + fee_rate), a market buy by size at size x best ask x (1 + slippage) x (1 +
    fee_rate). Realized losses lower the cap; profits raise it only with ``compound``.
    """

    compound: bool = Field(
        default=False, strict=True, description="true: realized profits may be re-risked"
    )
    fee_rate: Decimal = Field(
        default=Decimal("0.001"), ge=0, le=Decimal("0.01"), description="taker fee, e.g. 0.001"
    )
    slippage: Decimal = Field(
        default=Decimal("0.02"),
        ge=0,
        le=Decimal("0.5"),
        description="margin over the best ask for market buys by size, e.g. 0.02",
    )
    orders_per_minute: int = Field(
        default=30, ge=1, le=600, description="more than this in a minute halts the bot"
    )
    balance_tolerance: Decimal = Field(
        default=Decimal("1"),
        ge=0,
        description="stake worth of difference between exchange and ledger that halts the bot",
    )
    guard: GuardRules = GuardRules()

    @property
    def worst_case_factor(self) -> Decimal:
        """What the gateway multiplies a market buy's stake by to get its worst case."""
        return (1 + self.slippage) * (1 + self.fee_rate)


class GatewayDeployment(_Strict):
    """Where the order gateway listens: on this machine only, at a port kept across
    restarts (chosen once when unset, so bots find it again after a restart)."""

    port: int | None = Field(default=None, ge=1024, le=65535)


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
    advisor: BotAdvisor = BotAdvisor()

    @field_validator("subaccount")
    @classmethod
    def _subaccount_is_a_plain_name(cls, subaccount: str) -> str:
        if subaccount != subaccount.strip() or not subaccount.isprintable():
            raise ValueError(
                "has spaces around it or unprintable characters, which no KuCoin "
                "sub-account name has (allowed: the name exactly as KuCoin shows it)"
            )
        return subaccount

    @field_validator("pairs")
    @classmethod
    def _pairs_are_symbols(cls, pairs: list[str]) -> list[str]:
        problems: list[tuple[Location, str]] = []
        first: dict[str, int] = {}
        for index, pair in enumerate(pairs):
            if not PAIR.fullmatch(pair):
                problems.append(((index,), f"pair {shown(pair)} is not BASE/QUOTE, e.g. XRP/USDT"))
                continue
            base, quote = pair.split("/")
            if base == quote:
                problems.append(
                    (
                        (index,),
                        f"pair {pair} trades {base} against itself (allowed: two currencies)",
                    )
                )
            if pair in first:
                problems.append(
                    ((index,), f"pair {pair} is listed twice, here and at pairs.{first[pair]}")
                )
            first.setdefault(pair, index)
        if problems:
            raise FieldProblem(*problems)
        return pairs

    @model_validator(mode="after")
    def _budget_buys_what_the_pairs_sell(self) -> Bot:
        currency = self.budget.currency
        problems: list[tuple[Location, str]] = [
            (
                ("pairs", index),
                f"pair {pair} is not quoted in the budget currency {currency} "
                f"(allowed: pairs ending in /{currency})",
            )
            for index, pair in enumerate(self.pairs)
            if pair.split("/")[1] != currency
        ]
        stake = self.stake_per_trade
        if stake < MIN_STAKE:
            trades = self.max_open_trades
            needed = (
                MIN_STAKE * trades * self.risk.worst_case_factor / (1 - FEE_RESERVE)
            ).quantize(STAKE_PRECISION, ROUND_CEILING)
            problems.append(
                (
                    ("budget", "amount"),
                    f"{self.budget.amount} {currency} leaves a stake of {stake} "
                    f"{currency} per trade (amount x {1 - FEE_RESERVE} / "
                    f"{self.risk.worst_case_factor.normalize()} for the gateway's worst case "
                    f"/ max_open_trades {trades}, rounded down to {STAKE_PRECISION}), under "
                    f"{MIN_STAKE} "
                    f"{currency}, the smallest order KuCoin takes on any pair (allowed: at "
                    f"least {needed} {currency} for {trades} open trade(s))",
                )
            )
        if problems:
            raise FieldProblem(*problems)
        return self

    @property
    def stake_per_trade(self) -> Decimal:
        """Equal slices of the budget, so max_open_trades trades together never exceed it.

        Sized so that the order gateway lets each one through: it counts a market buy at
        its worst case, stake x (1 + slippage) x (1 + fee_rate), against the budget, so
        the slices are cut from budget / that factor. A further 1 % stays back for the
        spread between the price Freqtrade sized at and the best ask the gateway sees.
        """
        usable = self.budget.amount * (1 - FEE_RESERVE) / self.risk.worst_case_factor
        return (usable / self.max_open_trades).quantize(STAKE_PRECISION, ROUND_DOWN)


def subaccount_key(subaccount: str) -> str:
    """A sub-account name as compared for sharing: case and surrounding spaces ignored."""
    return subaccount.strip().casefold()


class Fleet(_Strict):
    version: Literal[1] = 1
    #: how `bulkhead up/down/restart/status/logs` run the bots: supervised processes on
    #: this machine, or the generated Docker Compose project (``bulkhead compose``)
    runtime: Literal["local", "docker"] = Field(
        default="local", description="local processes, or docker (the Compose project)"
    )
    memory: MemoryDeployment = MemoryDeployment()
    gateway: GatewayDeployment = GatewayDeployment()
    advisor: AdvisorDeployment | None = None
    bots: list[Bot] = Field(min_length=1)

    @model_validator(mode="after")
    def _each_bot_has_its_own_name_and_live_subaccount(self) -> Fleet:
        """Names tell bots (and their files) apart; a sub-account is one bot's money.

        Sub-accounts are compared as KuCoin would mean them, so ``Bot1 `` and ``bot1``
        are the same one; dry-run bots trade no money and may share.
        """
        problems: list[tuple[Location, str]] = []
        named: dict[str, int] = {}
        live: dict[str, int] = {}
        for index, bot in enumerate(self.bots):
            if bot.name in named:
                problems.append(
                    (
                        ("bots", index, "name"),
                        f"{bot.name!r} is also the name of bots.{named[bot.name]} "
                        "(allowed: a name no other bot has)",
                    )
                )
            named.setdefault(bot.name, index)
            if bot.mode != "live":
                continue
            key = subaccount_key(bot.subaccount)
            if key in live:
                other = self.bots[live[key]]
                problems.append(
                    (
                        ("bots", index, "subaccount"),
                        f"{shown(bot.subaccount)} is the sub-account of live bot "
                        f"bots.{live[key]} ({shown(other.subaccount)}) too, compared ignoring "
                        "case and surrounding spaces (allowed: a sub-account of its own for "
                        "each live bot)",
                    )
                )
            live.setdefault(key, index)
        problems += without_provider(self.bots, self.advisor)
        if problems:
            raise FieldProblem(*problems)
        return self

    def bot(self, name: str) -> Bot:
        for bot in self.bots:
            if bot.name == name:
                return bot
        raise KeyError(name)
