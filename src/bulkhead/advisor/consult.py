"""One consultation of the LLM about one bot, from prompt to applied proposals, with every
call paid for in advance and every step on the record.

1. The breaker is asked first: open, no call (``advisor_fallback``, reason ``BREAKER_OPEN``).
2. The bot's context is read from memory and turned into the prompt, which is checked for
   secrets (one found: not sent).
3. Each round: the worst case of the call is reserved against every cap (a call that does
   not fit is not made, never shrunk); the call goes out; the reservation is settled to the
   tokens the provider reports (its worst case when it reports none, or may have billed a
   call that failed). A 429, 5xx or timeout is retried up to ``provider.retries`` times,
   each attempt reserved like the first.
4. Every tool call is parsed (schema), reviewed (bounds, guard), recorded as a proposal,
   and applied when the bot's ``auto_apply`` names its kind; the others wait.
5. The consultation is written to the audit stream and the bot's events; a failure counts
   toward the breaker, a success closes it. Whatever fails, the bot goes on trading with
   what it has: the advisor only ever adds proposals.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from bulkhead.advisor import tools as tool_specs
from bulkhead.advisor.advice import Applier, ProposalStore, new_id
from bulkhead.advisor.breaker import CircuitBreaker
from bulkhead.advisor.context import (
    RECENT_TRADES,
    SYSTEM_PROMPT,
    BotContext,
    Parameter,
    SecretInPrompt,
    refuse_secrets,
)
from bulkhead.advisor.providers import (
    Conversation,
    ProviderTrouble,
    Reply,
    open_conversation,
    sdk_client,
)
from bulkhead.advisor.review import review
from bulkhead.advisor.spend import (
    Refusal,
    SpendLedger,
    cost_nano,
    eur,
    worst_case_input_tokens,
)
from bulkhead.config.advisor import AdvisorDeployment
from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths
from bulkhead.errors import OperatorError
from bulkhead.gateway.states import TradingStates
from bulkhead.guard.directives import Directives
from bulkhead.logs import event
from bulkhead.memory.keys import AdvisorKeys, BotKeys
from bulkhead.memory.store import MemoryStore

logger = logging.getLogger("bulkhead.advisor")
#: consultations kept in the audit stream per bot
KEEP_CONSULTATIONS = 2000
#: the longest wait between retries, whatever retry-after says
MAX_RETRY_WAIT_S = 10.0
RETRYABLE = frozenset({"rate_limited", "server", "timeout"})
#: how much of the model's answer the audit keeps
KEEP_ANSWER = 4000
#: tool calls read from one answer; the rest are refused unread
MAX_CALLS = 10

Conversations = Callable[[str, str], Conversation]


@dataclass
class Outcome:
    """What a consultation came to: ``advised`` (the model answered with tools),
    ``no_proposal`` (it answered without one) or ``fallback`` (no usable answer: why)."""

    id: str
    outcome: str
    reason: str = ""
    proposals: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nano: int = 0

    @property
    def cost_eur(self) -> float:
        return eur(self.cost_nano)


class UnknownProposal(OperatorError):
    """No such proposal, or not one waiting for a decision."""


class Fallback(Exception):
    def __init__(self, reason: str, failure: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure  # counts toward the breaker (a cap reached does not)


class Advisor:
    """Consults the LLM about one bot. Build once per process; ``consult`` as often as the
    caps allow (each call checks them)."""

    def __init__(
        self,
        client: redis.Redis,
        settings: AdvisorDeployment,
        bot: Bot,
        paths: BotPaths,
        parameters: dict[str, Parameter],
        *,
        api_key: str,
        secrets: Sequence[str] = (),
        reload: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        conversations: Conversations | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.bot = bot
        self.parameters = parameters
        self.secrets = [*secrets, api_key]
        self.clock = clock
        self.sleep = sleep
        self.ledger = SpendLedger(client, settings.caps, clock)
        self.breaker = CircuitBreaker(client, bot.name, settings.breaker, clock)
        self.proposals = ProposalStore(client, bot.name)
        self.memory = MemoryStore(client, bot.name)
        self.applier = Applier(client, bot, paths, parameters, reload, clock)
        self._api_key = api_key
        self._sdk: Any = None
        self._conversations = conversations or self._open

    def _open(self, system: str, user: str) -> Conversation:
        if self._sdk is None:
            self._sdk = sdk_client(self.settings.provider, self._api_key)
        return open_conversation(self.settings.provider, self._sdk, system, user)

    # -- context ------------------------------------------------------------------------

    def context(self) -> BotContext:
        name = self.bot.name
        try:
            record = TradingStates(self.client).get(name)
            state, reason = str(record.state), record.reason
        except Exception:
            state, reason = "UNKNOWN", "the gateway's state could not be read"
        records = self.memory.recent_trades(RECENT_TRADES)
        return BotContext(
            bot=self.bot,
            records=records,
            parameters=self.parameters,
            guard_state=state,
            guard_reason=reason,
            directives=Directives.from_json(self.client.get(BotKeys(name).directives)),
            insights=self.memory.insights()[-10:],
            recent_advice=self.proposals.recent(5),
            regimes=self.memory.regimes([r.trade_id for r in records]),
        )

    # -- the consultation ---------------------------------------------------------------

    def consult(self, trigger: str = "schedule") -> Outcome:
        outcome = Outcome(new_id(), "fallback")
        audit: dict[str, Any] = {"trigger": trigger, "answers": [], "tools": []}
        try:
            self._consult(outcome, audit)
        except Fallback as fallback:
            outcome.outcome, outcome.reason = "fallback", self._scrub(fallback.reason)
            if fallback.failure:
                self._failed(fallback.reason)
        except redis.RedisError as error:  # memory down: no call, nothing applied after it
            outcome.outcome = "fallback"
            outcome.reason = f"MEMORY_UNAVAILABLE {type(error).__name__}"
        else:
            with contextlib.suppress(redis.RedisError):
                self.breaker.succeeded()
        self._record(outcome, audit)
        return outcome

    def _consult(self, outcome: Outcome, audit: dict[str, Any]) -> None:
        until = self.breaker.open_until()
        if until is not None:
            raise Fallback(f"BREAKER_OPEN until={int(until)}", failure=False)
        now_ms = int(self.clock() * 1000)
        context = self.context()
        prompt = context.prompt(now_ms)
        audit["prompt_sha256"] = hashlib.sha256(prompt.encode()).hexdigest()
        audit["prompt_bytes"] = len(prompt.encode())
        try:
            refuse_secrets([SYSTEM_PROMPT, prompt], self.secrets)
        except SecretInPrompt as refused:
            raise Fallback(f"SECRET_IN_PROMPT {refused}", failure=False) from None
        offered = tool_specs.specs()
        audit["tools"] = [t["name"] for t in offered]
        conversation = self._conversations(SYSTEM_PROMPT, prompt)
        caps = self.settings.caps
        for _round in range(caps.max_tool_rounds):
            reply = self._call(conversation, offered, outcome)
            audit["answers"].append(_shown_reply(reply))
            if not reply.calls:
                outcome.outcome = "advised" if outcome.proposals else "no_proposal"
                return
            outcome.outcome = "advised"
            results, retry = [], False
            for call in reply.calls[:MAX_CALLS]:
                record = self._handle(call.name, call.arguments, context, outcome.id, now_ms)
                outcome.proposals.append(record)
                results.append((call.id, f"{record['status']}: {record['reason']}"[:500]))
                retry |= record["status"] == "refused"
            # every call gets its answer (the protocols want one each), the excess unread
            results += [
                (call.id, f"refused: TOO_MANY_CALLS at most {MAX_CALLS} per answer")
                for call in reply.calls[MAX_CALLS:]
            ]
            all_refused = all(r["status"] == "refused" for r in outcome.proposals)
            if all_refused and _round + 1 == caps.max_tool_rounds:
                raise Fallback("NONSENSE every tool call was invalid", failure=True)
            if not retry:
                return
            conversation.tool_results(results)

    def _call(
        self, conversation: Conversation, offered: list[dict[str, Any]], outcome: Outcome
    ) -> Reply:
        caps, price = self.settings.caps, self.settings.price
        wire = conversation.wire_text(offered)
        worst_in = worst_case_input_tokens([wire], conversation.messages)
        if worst_in + caps.max_output_tokens > caps.max_tokens_per_call:
            raise Fallback(
                f"LLM_TOKENS worst_case={worst_in + caps.max_output_tokens} "
                f"max_tokens_per_call={caps.max_tokens_per_call}",
                failure=False,
            )
        worst = cost_nano(price, worst_in, caps.max_output_tokens)
        attempts = self.settings.provider.retries + 1
        for attempt in range(attempts):
            try:
                reservation = self.ledger.reserve(self.bot.name, worst)
            except redis.RedisError as error:
                raise Fallback(f"SPEND_UNRECORDABLE {type(error).__name__}", False) from None
            if isinstance(reservation, Refusal):
                raise Fallback(str(reservation), failure=False)
            outcome.calls += 1
            try:
                reply = conversation.ask(offered, caps.max_output_tokens)
            except ProviderTrouble as trouble:
                cost = worst if trouble.billed else 0
                self._settle(reservation, cost, worst_in if trouble.billed else 0, 0, outcome)
                if trouble.reason not in RETRYABLE or attempt + 1 == attempts:
                    raise Fallback(f"PROVIDER_{trouble.reason.upper()} {trouble}", True) from None
                self.sleep(min(MAX_RETRY_WAIT_S, trouble.retry_after or 1.0))
                continue
            tokens_in = reply.input_tokens if reply.input_tokens is not None else worst_in
            tokens_out = (
                reply.output_tokens if reply.output_tokens is not None else caps.max_output_tokens
            )
            self._settle(
                reservation, cost_nano(price, tokens_in, tokens_out), tokens_in, tokens_out, outcome
            )
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _settle(
        self, reservation: Any, cost: int, tokens_in: int, tokens_out: int, outcome: Outcome
    ) -> None:
        alerts = self.ledger.settle(reservation, cost, tokens_in, tokens_out)
        outcome.cost_nano += cost
        outcome.input_tokens += tokens_in
        outcome.output_tokens += tokens_out
        for alert in alerts:
            self._emit(
                "llm_spend_alert",
                logging.WARNING,
                scope=alert.scope,
                percent=alert.level,
                spent_eur=alert.spent_eur,
                cap_eur=alert.cap_eur,
            )

    def _handle(
        self, name: str, arguments: Any, context: BotContext, consultation: str, now_ms: int
    ) -> dict[str, Any]:
        """One tool call: parsed, reviewed, recorded, and applied where allowed."""
        record: dict[str, Any] = {
            "id": new_id(),
            "consultation": consultation,
            "bot": self.bot.name,
            "kind": str(name)[:64],
            "created_ms": now_ms,
            "arguments": arguments if isinstance(arguments, dict) else str(arguments)[:500],
        }
        try:
            proposal = tool_specs.parse(name, arguments)
        except tool_specs.ToolRejected as rejected:
            record |= {"status": "refused", "reason_code": rejected.code, "reason": str(rejected)}
            self.proposals.save(record)
            return record
        record["arguments"] = proposal.model_dump(mode="json")
        verdict = review(proposal, context, now_ms)
        record |= {"reason_code": verdict.code, "reason": str(verdict)}
        if name == "no_change":
            record["status"] = "noted"
        elif not verdict.allowed:
            record["status"] = "refused"
        elif name in self.bot.advisor.auto_apply:
            record |= self.carry_out(name, record, by="advisor")
        else:
            record["status"] = "pending"
        self.proposals.save(record)
        return record

    def carry_out(self, kind: str, record: dict[str, Any], by: str) -> dict[str, Any]:
        """Apply an allowed proposal: its new status fields."""
        try:
            done = self.applier.apply(kind, record["arguments"], record["id"])
        except Exception as error:
            return {"status": "failed", "applied": f"{type(error).__name__}: {error}"[:300]}
        self._emit("advice_applied", kind=kind, proposal=record["id"], by=by, applied=done)
        return {"status": "applied", "applied": done, "decided_by": by}

    def decide(self, proposal_id: str, *, accept: bool, by: str) -> dict[str, Any]:
        """The operator's answer to a pending proposal. Accepting reviews it again against
        the bounds and the guard as they are now; refused then, it changes nothing."""
        record = self.proposals.get(proposal_id)
        if record is None:
            raise UnknownProposal(f"{self.bot.name} has no proposal {proposal_id[:64]!r}")
        if record.get("status") != "pending":
            raise UnknownProposal(
                f"proposal {record['id']} is {record.get('status')}: only a pending one can be "
                "accepted or rejected"
            )
        now_ms = int(self.clock() * 1000)
        record |= {"decided_by": by, "decided_ms": now_ms}
        if not accept:
            record["status"] = "rejected"
            self._emit("advice_rejected", kind=record["kind"], proposal=record["id"], by=by)
        else:
            proposal = tool_specs.parse(record["kind"], record["arguments"])
            verdict = review(proposal, self.context(), now_ms)
            record |= {"reason_code": verdict.code, "reason": str(verdict)}
            if verdict.allowed:
                record |= self.carry_out(record["kind"], record, by=by)
            else:
                record["status"] = "refused"
        self.proposals.save(record)
        return record

    # -- records ------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """``text`` without any secret the advisor knows: a provider's error message may
        echo what it was sent (a key, part of a prompt)."""
        for secret in self.secrets:
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        return text

    def _failed(self, reason: str) -> None:
        try:
            until = self.breaker.failed(reason)
        except redis.RedisError:
            return
        if until is not None:
            self._emit("advisor_breaker_open", logging.WARNING, reason=reason, until=int(until))

    def _record(self, outcome: Outcome, audit: dict[str, Any]) -> None:
        summary = {
            "consultation": outcome.id,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "proposals": [
                {k: p.get(k) for k in ("id", "kind", "status", "reason_code")}
                for p in outcome.proposals
            ],
            "calls": outcome.calls,
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
            "cost_eur": outcome.cost_eur,
            "model": self.settings.provider.model,
        }
        entry = (
            summary | audit | {"proposals": outcome.proposals, "at_ms": int(self.clock() * 1000)}
        )
        try:
            self.client.xadd(
                AdvisorKeys(self.bot.name).consultations,
                {"data": json.dumps(entry, default=str)},
                maxlen=KEEP_CONSULTATIONS,
                approximate=True,
            )
        except redis.RedisError as error:
            event(logger, "advisor_audit_failed", logging.ERROR, error=str(error)[:200])
        if outcome.outcome == "fallback":
            self._emit(
                "advisor_fallback", logging.WARNING, consultation=outcome.id, reason=outcome.reason
            )
        self._emit("advisor_consultation", **summary)

    def _emit(self, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
        """One event in the log and in the bot's memory events."""
        event(logger, name, level, bot=self.bot.name, **fields)
        try:
            self.memory.record_event(name, fields)
        except redis.RedisError as error:
            event(logger, "advisor_event_unrecorded", logging.WARNING, error=str(error)[:200])


def _shown_reply(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text[:KEEP_ANSWER],
        "tool_calls": [
            {"name": c.name[:64], "arguments": json.dumps(c.arguments)[:KEEP_ANSWER]}
            if isinstance(c.arguments, dict)
            else {"name": c.name[:64], "arguments": str(c.arguments)[:KEEP_ANSWER]}
            for c in reply.calls[:MAX_CALLS]
        ],
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
    }
