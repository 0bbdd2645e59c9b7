"""Preflight: prove a bot's key is harmless, and its setup workable, before it trades.

A bot holds a live API key on a box that may be compromised; the only defence that does
not depend on that box is what KuCoin lets the key do. So before a bot starts, Bulkhead
asks the exchange about the key itself (master or sub-account, which sub-account, which
permissions, IP whitelist) and about the conditions the bot would trade in (exchange
status, clock, balance, minimum order sizes), and reports one line per check.

The preflight fails closed: a check that cannot prove its point (network down, key
refused, an answer of the wrong shape) fails rather than passes, and no exchange
problem ever escapes as an exception, so the caller always gets a full report to show.
Details never carry a secret: every sentence passes through the same redactor the logs
use, keyed with this client's credentials.
"""

from __future__ import annotations

import logging
import re
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import ccxt
from pydantic import SecretStr

from bulkhead.config.models import Bot
from bulkhead.kucoin import PERMISSIONS as KUCOIN_PERMISSIONS
from bulkhead.kucoin import ccxt_overrides
from bulkhead.logs import Redactor

logger = logging.getLogger(__name__)

Status = Literal["pass", "warn", "fail"]

#: What a bot's key may carry: reading (General) and spot trading, nothing that moves funds.
TRADE_ONLY = frozenset({"General", "Spot"})
#: One slow answer should not hang a preflight that an operator is waiting on.
CLIENT_TIMEOUT_MS = 10_000
#: KuCoin refuses signed requests more than 5 s off; 3 s leaves room for network delay.
DEFAULT_MAX_CLOCK_SKEW_MS = 3_000
#: Freqtrade's default ``amount_reserve_percent``: it asks for this much over the minimum.
FREQTRADE_AMOUNT_RESERVE = Decimal("0.05")
#: Freqtrade never pads the minimum stake by more than half.
FREQTRADE_MAX_RESERVE = Decimal("1.5")
#: Longest error text quoted in a detail; a whole HTML error page helps nobody.
MAX_QUOTE = 160

_CODE = re.compile(r'"code"\s*:\s*"?(\d{6})')
_MSG = re.compile(r'"msg"\s*:\s*"([^"]*)"')


@dataclass(frozen=True)
class Check:
    """One question asked of the exchange, with its verdict in a sentence."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class PreflightReport:
    """Every check, in order, for one bot; it passes when none failed (warnings allowed)."""

    bot: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data, for structured logs."""
        return {
            "bot": self.bot,
            "passed": self.passed,
            "checks": [asdict(check) for check in self.checks],
        }

    def table(self, width: int = 100) -> str:
        """A plain-text table (check | result | detail) with details wrapped to ``width``.

        No verdict line: callers (the CLI, the supervisor) state the outcome their own way.
        """
        name_width = max([len("check"), *(len(check.name) for check in self.checks)])
        result_width = len("result")
        detail_width = max(30, width - name_width - result_width - 6)
        lines = [
            f"{'check':<{name_width}} | {'result':<{result_width}} | detail",
            f"{'-' * name_width}-+-{'-' * result_width}-+-{'-' * detail_width}",
        ]
        for check in self.checks:
            wrapped = textwrap.wrap(check.detail, detail_width) or [""]
            lines.append(
                f"{check.name:<{name_width}} | {check.status.upper():<{result_width}} | "
                f"{wrapped[0]}"
            )
            lines.extend(
                f"{'':<{name_width}} | {'':<{result_width}} | {more}" for more in wrapped[1:]
            )
        return "\n".join(lines)


def make_client(bot: Bot, credentials: Mapping[str, SecretStr]) -> ccxt.kucoin:
    """A ccxt KuCoin client for the bot's key: real KuCoin, or its twin when it rehearses.

    Markets are not loaded here: that is a network call, and the preflight makes it
    inside its fail-closed handling instead.
    """
    config: dict[str, Any] = {
        "apiKey": credentials["api_key"].get_secret_value(),
        "secret": credentials["secret"].get_secret_value(),
        "password": credentials["passphrase"].get_secret_value(),
        "timeout": CLIENT_TIMEOUT_MS,
        "enableRateLimit": True,
    }
    if bot.exchange.is_twin:
        config.update(ccxt_overrides(bot.exchange.twin_url))
    return ccxt.kucoin(config)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def run_preflight(
    bot: Bot,
    client: Any,
    *,
    clock_ms: Callable[[], int] = _wall_clock_ms,
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS,
) -> PreflightReport:
    """Ask the exchange everything the bot's safety depends on; never raises for its answers.

    ``client`` is a ccxt KuCoin client (see ``make_client``). ``clock_ms`` is the local
    clock compared with the exchange's, injectable so a skewed clock can be rehearsed.
    """
    return _Preflight(bot, client, clock_ms, max_clock_skew_ms).run()


class _Unexpected(Exception):
    """The exchange answered, but not in a shape the preflight can vouch for."""


class _Preflight:
    """One preflight run: the checks share the key description fetched by the first."""

    def __init__(
        self, bot: Bot, client: Any, clock_ms: Callable[[], int], max_clock_skew_ms: int
    ) -> None:
        self.bot = bot
        self.client = client
        self.clock_ms = clock_ms
        self.max_clock_skew_ms = max_clock_skew_ms
        self.redact = Redactor(
            str(value)
            for value in (
                getattr(client, "apiKey", None),
                getattr(client, "secret", None),
                getattr(client, "password", None),
            )
            if value
        )
        self.key: dict[str, Any] | None = None

    def run(self) -> PreflightReport:
        checks = [self._guard("key_valid", self._key_valid)]
        for name, probe in (
            ("key_is_sub_account", self._key_is_sub_account),
            ("subaccount_matches", self._subaccount_matches),
            ("permissions_trade_only", self._permissions_trade_only),
            ("ip_whitelist", self._ip_whitelist),
        ):
            if self.key is None:
                checks.append(Check(name, "fail", "not checked: the key could not be read"))
            else:
                checks.append(self._guard(name, probe))
        checks.append(self._guard("exchange_status", self._exchange_status))
        checks.append(self._guard("clock_skew", self._clock_skew))
        checks.append(self._guard("balance_covers_budget", self._balance_covers_budget))
        checks.append(
            self._guard("budget_above_exchange_minimum", self._budget_above_exchange_minimum)
        )
        return PreflightReport(self.bot.name, tuple(checks))

    def _guard(self, name: str, probe: Callable[[], tuple[Status, str]]) -> Check:
        """Run one check; any exception becomes a failed check (fail closed), redacted."""
        try:
            status, detail = probe()
        except Exception as error:  # every failure mode must end as a report line
            logger.debug("preflight check %s raised %s", name, type(error).__name__)
            status, detail = "fail", _describe_error(error)
        return Check(name, status, self.redact(detail))

    # -- the key ------------------------------------------------------------------------

    def _key_valid(self) -> tuple[Status, str]:
        response = self.client.privateGetUserApiKey()
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, dict):
            raise _Unexpected("the key description is not an object")
        self.key = data
        return "pass", f"KuCoin accepted the key (API version {data.get('apiVersion', '?')})"

    def _key_data(self) -> dict[str, Any]:
        assert self.key is not None  # run() only asks once key_valid has stored it
        return self.key

    def _key_is_sub_account(self) -> tuple[Status, str]:
        is_master = _as_bool(self._key_data().get("isMaster"))
        if is_master is None:
            return "fail", "the exchange did not say whether this is a master key"
        if is_master:
            return "fail", "this is a MASTER key: a bot must use a sub-account key"
        return "pass", "the key belongs to a sub-account, not the master account"

    def _subaccount_matches(self) -> tuple[Status, str]:
        expected = self.bot.subaccount
        actual = self._key_data().get("subName")
        if not actual:
            return "fail", f"the key belongs to no sub-account; expected {expected!r}"
        if str(actual) != expected:
            return "fail", f"the key belongs to sub-account {actual!r}, not {expected!r}"
        return "pass", f"the key belongs to sub-account {expected!r}"

    def _permissions_trade_only(self) -> tuple[Status, str]:
        permissions = _as_list(self._key_data().get("permission"))
        if permissions is None:
            raise _Unexpected("the exchange did not list the key's permissions")
        extra = _in_kucoin_order(set(permissions) - TRADE_ONLY)
        problems = []
        if extra:
            problems.append(
                f"the key also carries {', '.join(extra)}: a bot key must carry only "
                "General and Spot"
            )
        if "Spot" not in permissions:
            problems.append("the key lacks Spot, so the bot cannot trade")
        if problems:
            return "fail", "; ".join(problems)
        return "pass", f"the key carries only {', '.join(_in_kucoin_order(set(permissions)))}"

    def _ip_whitelist(self) -> tuple[Status, str]:
        addresses = _as_list(self._key_data().get("ipWhitelist")) or []
        if addresses:
            return "pass", f"the key only works from {len(addresses)} whitelisted address(es)"
        if self.bot.require_ip_whitelist:
            return "fail", (
                "the key has no IP whitelist and this bot requires one: "
                "add the bot host's address to the key on KuCoin"
            )
        return "warn", (
            "the key has no IP whitelist, so whoever holds it can trade from anywhere: "
            "consider restricting it to the bot host"
        )

    # -- trading conditions -------------------------------------------------------------

    def _exchange_status(self) -> tuple[Status, str]:
        answer = self.client.fetch_status()
        if not isinstance(answer, dict):
            raise _Unexpected("the status answer is not an object")
        raw = _raw_status(answer.get("info"))
        if raw == "open" or (raw is None and answer.get("status") == "ok"):
            return "pass", "KuCoin reports its spot market open"
        shown = raw if raw is not None else answer.get("status")
        return "fail", f"KuCoin reports status {shown!r}, not open: the bot could not trade"

    def _clock_skew(self) -> tuple[Status, str]:
        before = self.clock_ms()
        server = self.client.fetch_time()
        after = self.clock_ms()
        if isinstance(server, bool) or not isinstance(server, int | float):
            raise _Unexpected("the exchange time is not a number")
        skew = int(server) - (before + after) // 2
        direction = "ahead of" if skew > 0 else "behind"
        if abs(skew) > self.max_clock_skew_ms:
            return "fail", (
                f"the exchange clock is {abs(skew)} ms {direction} the local clock "
                f"(limit {self.max_clock_skew_ms} ms): KuCoin refuses signed requests "
                "beyond 5 s; sync the clock (NTP)"
            )
        return "pass", (
            f"the local clock is within {abs(skew)} ms of the exchange's "
            f"(limit {self.max_clock_skew_ms} ms)"
        )

    def _balance_covers_budget(self) -> tuple[Status, str]:
        currency = self.bot.budget.currency
        budget = self.bot.budget.amount
        balance = self.client.fetch_balance()
        if not isinstance(balance, dict):
            raise _Unexpected("the balance answer is not an object")
        entry = balance.get(currency) or {}
        if not isinstance(entry, dict):
            raise _Unexpected(f"the {currency} balance is not an object")
        free = _decimal(entry.get("free")) or Decimal(0)
        shown = f"{_fmt(free)} {currency} free in the trading account"
        if free < budget:
            detail = f"only {shown}, below the {_fmt(budget)} {currency} budget"
            stake = self.bot.stake_per_trade
            if free < stake:
                detail += f": not even one {_fmt(stake)} {currency} stake fits"
            else:
                detail += ": the bot would trade a smaller budget"
            return "warn", detail
        if free > budget:
            return "pass", (
                f"{shown}, more than the {_fmt(budget)} {currency} budget: "
                f"the budget still caps what the bot commits at {_fmt(budget)} {currency}"
            )
        return "pass", f"{shown} covers the {_fmt(budget)} {currency} budget exactly"

    def _budget_above_exchange_minimum(self) -> tuple[Status, str]:
        markets = self.client.load_markets()
        if not isinstance(markets, dict):
            raise _Unexpected("the market list is not an object")
        currency = self.bot.budget.currency
        stake = self.bot.stake_per_trade
        listed = [pair for pair in self.bot.pairs if pair in markets]
        tickers = self.client.fetch_tickers(listed) if listed else {}
        failures: list[str] = []
        warnings: list[str] = []
        highest: tuple[Decimal, str] | None = None
        for pair in self.bot.pairs:
            market = markets.get(pair)
            if not isinstance(market, dict):
                failures.append(f"{pair} is not listed on the exchange")
                continue
            if market.get("active") is False:
                failures.append(f"{pair} is listed but not trading")
                continue
            minimum, padded = self._minimum_stake(pair, market, tickers.get(pair))
            if highest is None or minimum > highest[0]:
                highest = (minimum, pair)
            if minimum > stake:
                failures.append(
                    f"{pair} needs at least {_fmt(minimum)} {currency} per trade, more than "
                    f"the stake of {_fmt(stake)} {currency}"
                )
            elif padded > stake:
                warnings.append(
                    f"{pair}: Freqtrade pads the minimum to {_fmt(padded)} {currency} for fees "
                    f"and stoploss, above the stake of {_fmt(stake)} {currency}, and would "
                    "skip entries"
                )
        if failures:
            return "fail", "; ".join(failures)
        if warnings:
            return "warn", "; ".join(warnings)
        assert highest is not None  # a bot has at least one pair, and all were listed
        return "pass", (
            f"the stake of {_fmt(stake)} {currency} clears every pair's minimum "
            f"(highest {_fmt(highest[0])} {currency}, {highest[1]})"
        )

    def _minimum_stake(
        self, pair: str, market: dict[str, Any], ticker: Any
    ) -> tuple[Decimal, Decimal]:
        """(the exchange's minimum order value, Freqtrade's padded minimum) for one pair.

        KuCoin's minimum is the largest of quoteMinSize (ccxt's cost.min), minFunds and the
        minimum size at the last price; Freqtrade pads cost.min for the stoploss and the
        size minimum by 5 %, and skips entries whose stake falls below that.
        """
        limits = market.get("limits") or {}
        cost_min = _decimal((limits.get("cost") or {}).get("min"))
        amount_min = _decimal((limits.get("amount") or {}).get("min"))
        min_funds = _decimal((market.get("info") or {}).get("minFunds"))
        if cost_min is None and amount_min is None and min_funds is None:
            raise _Unexpected(f"the exchange gave no minimum order size for {pair}")
        by_amount = None
        if amount_min is not None:
            price = _last_price(ticker)
            if price is None:
                raise _Unexpected(f"no last price for {pair}, so its minimum stake is unknown")
            by_amount = amount_min * price
        minimum = max(v for v in (cost_min, min_funds, by_amount) if v is not None)
        margin_reserve = 1 + FREQTRADE_AMOUNT_RESERVE
        stoploss_reserve = margin_reserve / (1 - Decimal(str(abs(self.bot.stoploss))))
        stoploss_reserve = max(min(stoploss_reserve, FREQTRADE_MAX_RESERVE), Decimal(1))
        padded = max(
            minimum,
            (cost_min or Decimal(0)) * stoploss_reserve,
            (by_amount or Decimal(0)) * margin_reserve,
        )
        return minimum, padded


# -- helpers ------------------------------------------------------------------------------


def _describe_error(error: Exception) -> str:
    """One sentence on why a check could not complete, with KuCoin's code when it gave one."""
    text = str(error)
    code = _CODE.search(text)
    message = _MSG.search(text)
    kucoin = ""
    if code:
        kucoin = f"KuCoin {code.group(1)}" + (f" {message.group(1)!r}" if message else "")
    if isinstance(error, ccxt.InvalidNonce):
        return (
            f"KuCoin refused the request timestamp ({kucoin or _quote(text)}): "
            "the local clock is off; sync it (NTP)"
        )
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied):
        return f"KuCoin refused the key ({kucoin or _quote(text)})"
    if isinstance(error, ccxt.NetworkError):
        return f"could not reach the exchange ({type(error).__name__}: {_quote(text)})"
    if isinstance(error, ccxt.BaseError):
        return f"the exchange answered with an error ({kucoin or _quote(text)})"
    if isinstance(error, _Unexpected):
        return f"unexpected answer from the exchange: {error}"
    return f"unexpected answer from the exchange ({type(error).__name__}: {_quote(text)})"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _as_list(value: Any) -> list[str] | None:
    """KuCoin's comma-separated lists (or a JSON list), trimmed; None if neither."""
    if value is None:
        return None
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    return None


def _in_kucoin_order(permissions: set[str]) -> list[str]:
    known = [name for name in KUCOIN_PERMISSIONS if name in permissions]
    return known + sorted(permissions - set(KUCOIN_PERMISSIONS))


def _raw_status(info: Any) -> str | None:
    """KuCoin's own word (open, close, cancelonly) from the raw status answer."""
    if not isinstance(info, dict):
        return None
    data = info.get("data")
    source = data if isinstance(data, dict) else info
    status = source.get("status", source.get("serverStatus"))
    return str(status) if status is not None else None


def _last_price(ticker: Any) -> Decimal | None:
    if not isinstance(ticker, dict):
        return None
    for field in ("last", "close", "ask", "bid"):
        price = _decimal(ticker.get(field))
        if price is not None and price > 0:
            return price
    return None


def _decimal(value: Any) -> Decimal | None:
    """A finite Decimal from ccxt's floats or strings; None for missing or nonsense."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _fmt(amount: Decimal) -> str:
    """An amount without float noise or trailing zeros: 0.1, 99, 0.00012."""
    if amount == amount.to_integral_value():
        return f"{amount.quantize(Decimal(1)):f}"
    return f"{amount.normalize():f}"
