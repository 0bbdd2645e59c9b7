"""Every Redis key Bulkhead uses, built in one place (tests pin the exact strings).

All of a bot's keys start with ``bh:{<bot>}:``: the braces are Redis Cluster's hash tag, so
one bot's keys live in one slot (multi-key scripts work), and the prefix is what the bot's
ACL user is limited to.

Trades and orders are stored one hash per class, each record one field holding its compact
JSON (``records.py``), not one hash per record: a full history is then a single HGETALL
of a few large strings instead of ~17 small strings per trade, which is what made reading
100,000 trades slow, and an unchanged record re-written is detectable by comparing one
value (the scripts then skip the write, so reconciliations do not grow the append-only
file). The sorted-set indexes give the order (and the time ranges) the hashes lack.

| key | type | writer | retention |
|---|---|---|---|
| ``bh:{bot}:trade_data`` | hash: trade id -> JSON | recorder | forever (explicit prune only) |
| ``bh:{bot}:trades`` | sorted set: trade id by open time (ms) | recorder | with the trades |
| ``bh:{bot}:order_data`` | hash: order id -> JSON | recorder | with the trades |
| ``bh:{bot}:orders`` | sorted set: order id by fill time (ms) | recorder | with the trades |
| ``bh:{bot}:events`` | stream | recorder, operator | trimmed by age (MINID) |
| ``bh:{bot}:equity:fine`` | sorted set: ``<ms>:<value>`` | recorder | days, then downsampled |
| ``bh:{bot}:equity:coarse`` | sorted set: ``<ms>:<value>`` | pruner | a year |
| ``bh:{bot}:insight:<id>`` | hash with TTL | analysis, operator, advisor | expires |
| ``bh:{bot}:insights`` | sorted set: insight id by creation (ms) | same | pruned with them |
| ``bh:{bot}:meta`` | hash | recorder | forever |
| ``bh:{bot}:guard`` | string: the risk guard's state (JSON) | guard | forever |
| ``bh:{bot}:regimes`` | hash: trade id -> volatility regime at entry | guard | forever |
| ``bhgw:{bot}:ledger`` | hash: ``committed``, ``realized`` | gateway ledger | rebuilt at start |
| ``bhgw:{bot}:ledger:orders`` | hash: clientOid -> reserved cost | gateway ledger | until closed |
| ``bhgw:{bot}:ledger:positions`` | hash: ``<sym>:qty``, ``<sym>:cost`` | ledger | till sold |
| ``bhgw:{bot}:ledger:lost`` | set: clientOids whose answer was lost | ledger | until found |
| ``bhgw:{bot}:ledger:fills`` | set: trade ids already counted | ledger | reset by rebuild |
| ``bhgw:{bot}:ledger:oids`` | hash: orderId -> clientOid | gateway | until closed |
| ``bhgw:{bot}:state`` | hash: ``state``, ``reason``, ``since``, ``by`` | gateway, CLI | forever |
| ``bhgw:{bot}:decisions`` | stream of gateway decisions | gateway | capped (MAXLEN ~) |

The gateway's keys (``bhgw:``) sit outside every bot's ACL pattern (``bh:{bot}:*``): a bot,
whatever its strategy does with its own Redis user, cannot touch its ledger, its trading
state or the record of the gateway's decisions. The hash tag is the same ``{bot}``, so a
bot's gateway keys share a slot with each other (multi-key scripts).

The ledger's amounts are exact integers of 1e-8 (stake currency; quantities: base currency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BOT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
ROOT = "bh"
#: the gateway's namespace: not covered by any bot's ACL user
GATEWAY_ROOT = "bhgw"
#: the advisor's keys: spend and audit, no bot user may touch them
ADVISOR_ROOT = "bhllm"


@dataclass(frozen=True)
class BotKeys:
    """The keys of one bot."""

    bot: str

    def __post_init__(self) -> None:
        if not BOT_NAME.match(self.bot):
            raise ValueError(f"bot name {self.bot!r} cannot be used in a Redis key")

    @property
    def prefix(self) -> str:
        return f"{ROOT}:{{{self.bot}}}:"

    @property
    def pattern(self) -> str:
        """The ACL key pattern that covers exactly this bot's keys."""
        return f"{self.prefix}*"

    @property
    def trade_data(self) -> str:
        """Every trade of the bot: field = trade id, value = the record's JSON."""
        return f"{self.prefix}trade_data"

    @property
    def trades(self) -> str:
        return f"{self.prefix}trades"

    @property
    def order_data(self) -> str:
        """Every filled order of the bot: field = order id, value = the record's JSON."""
        return f"{self.prefix}order_data"

    @property
    def orders(self) -> str:
        return f"{self.prefix}orders"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def equity_fine(self) -> str:
        return f"{self.prefix}equity:fine"

    @property
    def equity_coarse(self) -> str:
        return f"{self.prefix}equity:coarse"

    def insight(self, insight_id: str) -> str:
        return f"{self.prefix}insight:{insight_id}"

    @property
    def insights(self) -> str:
        return f"{self.prefix}insights"

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"

    @property
    def regimes(self) -> str:
        """Each trade's volatility regime at entry, as the risk guard saw it."""
        return f"{self.prefix}regimes"

    @property
    def guard(self) -> str:
        """The risk guard's memory: peak equity, period starts, readings (JSON string)."""
        return f"{self.prefix}guard"

    @property
    def directives(self) -> str:
        """What the advisor (or the operator) told the guard: paused pairs and a stake
        scale, each with an id and an end (JSON string). In the bot's reach on purpose: the
        guard only ever tightens with it, so a bot writing it can at most restrain itself."""
        return f"{self.prefix}directives"


@dataclass(frozen=True)
class GatewayKeys:
    """The keys the gateway keeps about one bot, out of that bot's reach."""

    bot: str

    def __post_init__(self) -> None:
        if not BOT_NAME.match(self.bot):
            raise ValueError(f"bot name {self.bot!r} cannot be used in a Redis key")

    @property
    def prefix(self) -> str:
        return f"{GATEWAY_ROOT}:{{{self.bot}}}:"

    @property
    def ledger(self) -> str:
        """The budget ledger's totals: ``committed`` and ``realized`` (integers, 1e-8 stake)."""
        return f"{self.prefix}ledger"

    @property
    def ledger_orders(self) -> str:
        """Open buy reservations: field = clientOid, value = reserved cost (1e-8 stake)."""
        return f"{self.prefix}ledger:orders"

    @property
    def ledger_positions(self) -> str:
        """Held positions: ``<symbol>:qty`` (1e-8 base) and ``<symbol>:cost`` (1e-8 stake)."""
        return f"{self.prefix}ledger:positions"

    @property
    def ledger_lost(self) -> str:
        """ClientOids whose placement answer was lost: reserved until found."""
        return f"{self.prefix}ledger:lost"

    @property
    def ledger_fills(self) -> str:
        """Trade ids the ledger has counted, so a fill reported twice counts once."""
        return f"{self.prefix}ledger:fills"

    @property
    def ledger_oids(self) -> str:
        """orderId -> clientOid of accepted buys, so fills (which name the orderId) find
        their reservation."""
        return f"{self.prefix}ledger:oids"

    @property
    def state(self) -> str:
        """The bot's trading state: ``state`` (ACTIVE, REDUCING, HALTED), ``reason``,
        ``since`` (ms), ``by`` (operator or gateway)."""
        return f"{self.prefix}state"

    @property
    def decisions(self) -> str:
        """The gateway's decisions about this bot's requests, newest last (a capped stream)."""
        return f"{self.prefix}decisions"


@dataclass(frozen=True)
class AdvisorKeys:
    """The LLM advisor's spend, rate, breaker, proposals and audit: out of every bot's
    reach (a bot that could write here could reset its own spend)."""

    bot: str

    def __post_init__(self) -> None:
        if not BOT_NAME.match(self.bot):
            raise ValueError(f"bot name {self.bot!r} cannot be used in a Redis key")

    def spend(self, period: str) -> str:
        """Spend of this bot in one calendar ``day:YYYY-MM-DD`` or ``month:YYYY-MM``:
        ``spent``, ``reserved`` (1e-9 €), ``calls``, ``input_tokens``, ``output_tokens``,
        ``alerted`` (the highest % alert sent)."""
        return f"{ADVISOR_ROOT}:spend:{self.bot}:{period}"

    @property
    def calls(self) -> str:
        """Times of this bot's calls in the last hour (sorted set), for ``calls_per_hour``."""
        return f"{ADVISOR_ROOT}:calls:{self.bot}"

    @property
    def breaker(self) -> str:
        """The circuit breaker: ``failures`` in a row, ``open_until_ms``, ``reason``."""
        return f"{ADVISOR_ROOT}:breaker:{self.bot}"

    @property
    def advice(self) -> str:
        """Proposals: field = proposal id, value = its JSON (status, kind, arguments...)."""
        return f"{ADVISOR_ROOT}:advice:{self.bot}"

    @property
    def consultations(self) -> str:
        """The audit trail: one entry per consultation (a capped stream)."""
        return f"{ADVISOR_ROOT}:consultations:{self.bot}"


def fleet_spend(period: str) -> str:
    """The fleet's spend in one calendar day or month (fields as ``AdvisorKeys.spend``)."""
    return f"{ADVISOR_ROOT}:spend:fleet:{period}"


#: reservations not yet settled: field = id, value = JSON {keys, amount, deadline}
ADVISOR_RESERVATIONS = f"{ADVISOR_ROOT}:reservations"
