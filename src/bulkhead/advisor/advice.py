"""Proposals, kept and carried out: each one a record with its status, applied through the
same few doors whether the advisor's rules or the operator decided.

Statuses: ``refused`` (invalid, or the guard said no: nothing changed), ``pending`` (waits
for ``bulkhead advice accept|reject``), ``applied``, ``rejected`` (by the operator),
``failed`` (allowed, but carrying it out failed: nothing or the part said changed).

The doors: the directives the guard reads (pauses, stake scale), the bot's insights, and
the strategy's parameter file (then Freqtrade's ``reload_config``, which keeps the open
trades: they live in its database). None leads to a budget, a limit, a key or the ledger.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bulkhead.advisor.context import Parameter
from bulkhead.advisor.tools import TOOLS, AdjustStakeScale, PausePair, ResumePair, WriteInsight
from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths
from bulkhead.guard.directives import Directives, Pause
from bulkhead.memory.keys import AdvisorKeys, BotKeys
from bulkhead.memory.store import MemoryStore
from bulkhead.plumbing import as_text, write_private

#: proposals kept per bot (the oldest go first)
KEEP_PROPOSALS = 1000
#: the generated strategy's parameter file (``freqtrade.stack``)
PARAMETER_FILE = Path("strategies") / "bulkhead_stack.json"


def new_id() -> str:
    return f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:6]}"


class ProposalStore:
    """The bot's proposals in ``bhllm:advice:<bot>`` (out of the bot's reach)."""

    def __init__(self, client: redis.Redis, bot: str) -> None:
        self.client = client
        self.key = AdvisorKeys(bot).advice

    def save(self, record: dict[str, Any]) -> None:
        """Written; past ``KEEP_PROPOSALS`` + 10 %, the oldest go in one sweep (not one read
        of them all per save)."""
        self.client.hset(self.key, record["id"], json.dumps(record, sort_keys=True))
        if self.client.hlen(self.key) > KEEP_PROPOSALS * 11 // 10:
            stale = [old["id"] for old in self.all()[:-KEEP_PROPOSALS]]
            self.client.hdel(self.key, *stale)

    def get(self, proposal_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.key, proposal_id[:64])
        return json.loads(raw) if raw else None

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The newest ``count``, oldest first: ids sort by their creation time, so only
        those few are read and parsed (what every consultation shows the model)."""
        ids = sorted(as_text(i) for i in self.client.hkeys(self.key))[-count:] if count > 0 else []
        raw = self.client.hmget(self.key, ids) if ids else []
        return [json.loads(value) for value in raw if value is not None]

    def all(self) -> list[dict[str, Any]]:
        """Oldest first."""
        records = [json.loads(v) for v in self.client.hvals(self.key)]
        return sorted(records, key=lambda r: (r.get("created_ms", 0), r.get("id", "")))


@dataclass
class Applier:
    """Carries out allowed proposals for one bot; ``reload`` asks its running Freqtrade to
    reload its config (None: applied at the next start)."""

    client: redis.Redis
    bot: Bot
    paths: BotPaths
    parameters: dict[str, Parameter]
    reload: Callable[[], str] | None = None
    clock: Callable[[], float] = time.time

    def apply(self, kind: str, arguments: dict[str, Any], proposal_id: str) -> str:
        """What was done, in words; raises when it could not be done."""
        proposal = TOOLS[kind].model_validate(arguments)
        now_ms = int(self.clock() * 1000)
        until_ms = now_ms + int(self.bot.advisor.directive_hours * 3_600_000)
        if isinstance(proposal, PausePair):
            text = proposal.reason[:160]
            self._directives(
                lambda d: Directives(
                    d.pauses | {proposal.pair: Pause(proposal_id, until_ms, text)},
                    d.stake_scale,
                    d.scale_id,
                    d.scale_until_ms,
                )
            )
            return f"{proposal.pair} paused for {self.bot.advisor.directive_hours:g} h"
        if isinstance(proposal, ResumePair):
            self._directives(
                lambda d: Directives(
                    {p: v for p, v in d.pauses.items() if p != proposal.pair},
                    d.stake_scale,
                    d.scale_id,
                    d.scale_until_ms,
                )
            )
            return f"{proposal.pair} resumed"
        if isinstance(proposal, AdjustStakeScale):
            scale = proposal.scale
            self._directives(lambda d: Directives(d.pauses, scale, proposal_id, until_ms))
            return f"stakes x {scale:g} for {self.bot.advisor.directive_hours:g} h"
        if isinstance(proposal, WriteInsight):
            MemoryStore(self.client, self.bot.name).add_insight(
                proposal.text, source="advisor", evidence={"proposal": proposal_id}
            )
            return "insight written"
        return self._parameter(arguments["name"], arguments["value"])

    def _directives(self, change: Callable[[Directives], Directives]) -> None:
        """Read, change and write the directives atomically (retried if another writer
        came between)."""
        key = BotKeys(self.bot.name).directives
        now_ms = int(self.clock() * 1000)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    current = Directives.from_json(pipe.get(key)).active(now_ms)
                    pipe.multi()
                    pipe.set(key, change(current).as_json())
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def _parameter(self, name: str, value: Any) -> str:
        """Into the advised parameters (kept over restarts) and the running parameter file,
        then Freqtrade reloads: its open trades stay (they are in its database)."""
        parameter = self.parameters[name]
        if parameter.kind == "int":
            value = int(value)  # 20.0 passed review as a whole number; Freqtrade wants 20
        advised = _json_file(self.paths.advised_params)
        advised.setdefault(parameter.space, {})[name] = value
        write_private(self.paths.advised_params, json.dumps(advised, indent=2) + "\n", 0o600)
        running = self.paths.user_data / PARAMETER_FILE
        document = _json_file(running)
        if document:
            params = document.setdefault("params", {})
            params.setdefault(parameter.space, {})[name] = value
            write_private(running, json.dumps(document, indent=2, sort_keys=True) + "\n", 0o644)
        done = f"{name}: {parameter.value!r} -> {value!r}"
        if self.reload is None:
            return f"{done} (takes effect at the next start)"
        return f"{done}; {self.reload()}"


def _json_file(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
