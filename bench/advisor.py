"""The LLM advisor's own time per consultation, for a bot with 10,000 trades in memory,
beside the provider's round trip measured in the same run.

Why this exists: a consultation reads the bot's recent history from Redis, computes its
metrics, breakdowns and patterns, builds and checks the prompt, reserves and settles the
spend (two Lua scripts), reviews and applies the proposals and writes the audit record.
None of that may cost the bot anything noticeable: consultations run on the supervisor's
own thread, but a slow one would hold Redis, and the operator's `bulkhead advise` waits
on it. The provider is the fake server on this machine, answering at once with three
tool calls (a pause, a stake scale, an insight), through the official OpenAI SDK over
HTTP; its round trip is timed around the SDK call and subtracted from the consultation.

Target: the advisor's own time under 50 ms per consultation (median and 95th
percentile). The ratio printed is own time / provider round trip. ``--quick``: 30
consultations (under a minute); the default: 200. One JSON object on stdout, progress on
stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bulkhead.advisor.consult import Advisor
from bulkhead.advisor.context import Parameter
from bulkhead.advisor.providers import open_conversation, sdk_client
from bulkhead.config.models import Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.memory.records import TradeRecord
from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.memory.store import MemoryStore
from bulkhead.sim.llm import Step, serve_fake_provider

TARGET_MS = 50.0
TRADES = 10_000
KEY = "sk-bench-advisor-0000000000"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bulkhead.yaml"


def log(message: str) -> None:
    print(f"[bench advisor] {message}", file=sys.stderr, flush=True)


def fleet(base_url: str) -> Fleet:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["bots"][0]["pairs"] = ["XRP/USDT", "BTC/USDT"]
    document["bots"][0]["advisor"] = {"enabled": True}
    document["advisor"] = {
        "provider": {
            "kind": "openai",
            "model": "gpt-4o-mini",
            "api_key": {"env": "LLM_API_KEY"},
            "base_url": base_url,
        },
        "caps": {"bot_daily_eur": 1000, "fleet_daily_eur": 1000, "calls_per_hour": 3600},
    }
    return Fleet.model_validate(document)


def seed(store: MemoryStore, count: int) -> None:
    start = 1_760_000_000_000
    trades = [
        TradeRecord(
            trade_id=i + 1,
            pair="XRP/USDT" if i % 3 else "BTC/USDT",
            side="long",
            is_open=False,
            amount=10.0,
            stake_amount=30.0,
            open_rate=0.5,
            close_rate=0.5 * (1 + ((i * 37) % 21 - 10) / 1000),
            open_time_ms=start + i * 600_000,
            close_time_ms=start + i * 600_000 + 300_000,
            fee_open_cost=0.03,
            fee_close_cost=0.03,
            realized_pnl=30.0 * ((i * 37) % 21 - 10) / 1000,
            realized_pnl_ratio=((i * 37) % 21 - 10) / 1000,
            entry_tag=f"tag{i % 7}",
            exit_reason="roi" if i % 4 else "stop_loss",
            duration_s=300.0,
        )
        for i in range(count)
    ]
    store.record_many([], trades)


def answer() -> Step:
    calls = [
        ("pause_pair", json.dumps({"pair": "BTC/USDT", "reason": "BTC loses"})),
        ("adjust_stake_scale", json.dumps({"scale": 0.75, "reason": "drawdown"})),
        ("write_insight", json.dumps({"text": "stop losses cluster on tag3"})),
    ]
    return Step.tool_calls(calls, input_tokens=3000, output_tokens=120)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(consultations: int, trades: int, root: Path) -> dict[str, Any]:
    server = ManagedRedis(root / "redis", bundled_redis_server())
    client = server.ensure_running().client(socket_timeout=30)
    try:
        log(f"{trades} trades into the bot's memory")
        seed(MemoryStore(client, "bot1"), trades)
        with serve_fake_provider(api_key=KEY) as (base, fake):
            settings = fleet(base)
            assert settings.advisor is not None
            provider_s: list[float] = []
            provider = settings.advisor.provider
            sdk = sdk_client(provider, KEY)

            def timed_conversation(system: str, user: str) -> Any:
                conversation = open_conversation(provider, sdk, system, user)
                ask = conversation.ask

                def timed_ask(*args: Any, **kwargs: Any) -> Any:
                    began = time.perf_counter()
                    try:
                        return ask(*args, **kwargs)
                    finally:
                        provider_s.append(time.perf_counter() - began)

                conversation.ask = timed_ask  # type: ignore[method-assign]
                return conversation

            advisor = Advisor(
                client,
                settings.advisor,
                settings.bots[0],
                Workspace(root / ".bulkhead").bot("bot1"),
                {"hold_seconds": Parameter("hold_seconds", "sell", "int", 10, 3, 120)},
                api_key=KEY,
                conversations=timed_conversation,
            )
            own_ms: list[float] = []
            round_trip_ms: list[float] = []
            for index in range(consultations + 3):  # three warm-ups (imports, scripts)
                fake.add(answer())
                provider_s.clear()
                began = time.perf_counter()
                outcome = advisor.consult()
                total = time.perf_counter() - began
                if outcome.outcome != "advised" or len(outcome.proposals) != 3:
                    raise RuntimeError(f"consultation {index}: {outcome}")
                if index >= 3:
                    own_ms.append((total - sum(provider_s)) * 1000)
                    round_trip_ms.append(sum(provider_s) * 1000)
            prompt_bytes = len(json.dumps(fake.received[-1].body))
        return {"own_ms": own_ms, "round_trip_ms": round_trip_ms, "request_bytes": prompt_bytes}
    finally:
        client.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 consultations, under a minute")
    parser.add_argument("--consultations", type=int, default=None)
    parser.add_argument("--trades", type=int, default=TRADES)
    args = parser.parse_args(argv)
    count = args.consultations or (30 if args.quick else 200)
    if count < 5 or args.trades < 1:
        parser.error("--consultations must be at least 5 and --trades at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-advisor-") as folder:
        measured = run(count, args.trades, Path(folder))
    own, trip = measured["own_ms"], measured["round_trip_ms"]
    p50, p95 = statistics.median(own), percentile(own, 0.95)
    trip50 = statistics.median(trip)
    log(f"own time p50 {p50:.1f} ms, p95 {p95:.1f} ms; provider round trip p50 {trip50:.1f} ms")
    targets = {
        "own_ms_p50": {"max": TARGET_MS, "value": round(p50, 2), "met": p50 < TARGET_MS},
        "own_ms_p95": {"max": TARGET_MS, "value": round(p95, 2), "met": p95 < TARGET_MS},
    }
    print(
        json.dumps(
            {
                "benchmark": "advisor",
                "quick": args.quick,
                "trades_in_memory": args.trades,
                "consultations": count,
                "own_ms": {"p50": round(p50, 2), "p95": round(p95, 2), "max": round(max(own), 2)},
                "provider_round_trip_ms": {
                    "p50": round(trip50, 2),
                    "p95": round(percentile(trip, 0.95), 2),
                },
                "own_over_round_trip": round(p50 / trip50, 2),
                "request_bytes": measured["request_bytes"],
                "targets": targets,
                "meets_targets": all(t["met"] for t in targets.values()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
