"""Building blocks for the advisor's tests: a fleet whose advisor talks to the fake
provider, an Advisor over a real Redis, trades seeded into a bot's memory."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import redis
import yaml

from bulkhead.advisor.consult import Advisor
from bulkhead.advisor.context import Parameter
from bulkhead.config.models import Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.memory.records import TradeRecord
from bulkhead.memory.store import MemoryStore

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
API_KEY = "sk-fake-provider-key-0123456789"
BOT = "bot1"
PARAMETERS = {"hold_seconds": Parameter("hold_seconds", "sell", "int", 10, 3, 120)}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


def fleet_document(
    base_url: str,
    wire: str,
    *,
    caps: dict[str, Any] | None = None,
    bot_advisor: dict[str, Any] | None = None,
    retries: int = 1,
) -> dict[str, Any]:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    document["bots"][0]["pairs"] = ["XRP/USDT", "BTC/USDT"]
    document["bots"][0]["advisor"] = {"enabled": True, **(bot_advisor or {})}
    document["advisor"] = {
        "provider": {
            "kind": wire,
            "model": MODELS[wire],
            "api_key": {"env": "LLM_API_KEY"},
            "base_url": base_url,
            "timeout_seconds": 2,
            "retries": retries,
        },
        "caps": caps or {},
        "breaker": {"failures": 2, "cooldown_minutes": 10},
    }
    return document


def make_fleet(base_url: str, wire: str, **options: Any) -> Fleet:
    return Fleet.model_validate(fleet_document(base_url, wire, **options))


def make_advisor(
    client: redis.Redis,
    fleet: Fleet,
    root: Path,
    *,
    secrets: tuple[str, ...] = (),
    reload: Any = None,
    clock: Any = None,
) -> Advisor:
    assert fleet.advisor is not None
    bot = fleet.bots[0]
    extra = {"clock": clock} if clock is not None else {}
    return Advisor(
        client,
        fleet.advisor,
        bot,
        Workspace(root / ".bulkhead").bot(bot.name),
        dict(PARAMETERS),
        api_key=API_KEY,
        secrets=secrets,
        reload=reload,
        sleep=lambda _s: None,
        **extra,
    )


def seed_trades(
    client: redis.Redis,
    count: int,
    *,
    bot: str = BOT,
    tag: str = "rehearsal",
    start_ms: int = 1_760_000_000_000,
    seed: int = 7,
) -> None:
    rng = random.Random(seed)
    store = MemoryStore(client, bot)
    records = []
    for i in range(count):
        opened = start_ms + i * 600_000
        closed = opened + 300_000
        ratio = rng.gauss(0.0005, 0.01)
        records.append(
            TradeRecord(
                trade_id=i + 1,
                pair="XRP/USDT" if i % 3 else "BTC/USDT",
                side="long",
                is_open=False,
                amount=10.0,
                stake_amount=30.0,
                open_rate=0.5,
                close_rate=0.5 * (1 + ratio),
                open_time_ms=opened,
                close_time_ms=closed,
                fee_open_cost=0.03,
                fee_close_cost=0.03,
                realized_pnl=30.0 * ratio,
                realized_pnl_ratio=ratio,
                entry_tag=tag,
                exit_reason="roi",
                duration_s=300.0,
            )
        )
    store.record_many([], records)
