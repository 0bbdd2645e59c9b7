"""Trading states and the decision stream on a real Redis, and the wall around them: a bot's
own memory user (``memory/acl.py``) can neither read nor write its gateway keys."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from bulkhead.gateway.ledger import Ledger
from bulkhead.gateway.states import StateUnavailable, TradingState, TradingStates
from bulkhead.memory.acl import bot_rule, bot_user
from bulkhead.memory.keys import BotKeys, GatewayKeys
from bulkhead.memory.server import Connection, ManagedRedis, bundled_redis_server

BOT = "alpha"
#: what Redis says to a user outside its key pattern (a script says "can't access")
NOPERM = r"(?i)noperm|no permissions|can't access"


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[ManagedRedis]:
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    server.ensure_running()
    yield server
    server.stop()


@pytest.fixture
def client(managed: ManagedRedis) -> Iterator[redis.Redis]:
    connection = managed.admin().client(socket_timeout=5, socket_connect_timeout=1)
    yield connection
    connection.close()


@pytest.fixture
def states(client: redis.Redis) -> TradingStates:
    return TradingStates(client)


def test_a_bot_never_set_is_active(states: TradingStates) -> None:
    record = states.get(BOT)
    assert (record.state, record.reason, record.since_ms, record.by) == (
        TradingState.ACTIVE,
        "",
        0,
        "",
    )


def test_a_state_set_is_read_back_by_another_client_and_recorded(
    states: TradingStates, managed: ManagedRedis
) -> None:
    before = time.time_ns() // 1_000_000
    states.set(BOT, TradingState.REDUCING, "REDUCE exits only", by="operator")
    other = TradingStates(managed.admin().client(socket_timeout=5))
    record = other.get(BOT)
    assert (record.state, record.reason, record.by) == (
        TradingState.REDUCING,
        "REDUCE exits only",
        "operator",
    )
    assert before <= record.since_ms <= time.time_ns() // 1_000_000
    assert record.as_dict()["state"] == "REDUCING"
    (decision,) = other.last_decisions(BOT)
    assert decision.fields == {
        "kind": "state",
        "decision": "REDUCING",
        "reason": "REDUCE exits only",
        "by": "operator",
    }
    assert other.get("beta").state is TradingState.ACTIVE


def test_halt_is_set_by_the_gateway_unless_told_otherwise(states: TradingStates) -> None:
    states.halt(BOT, "ORDER_RATE n=31 limit=30/min")
    record = states.get(BOT)
    assert (record.state, record.reason, record.by) == (
        TradingState.HALTED,
        "ORDER_RATE n=31 limit=30/min",
        "gateway",
    )
    states.halt(BOT, "KILL", by="operator")
    assert states.get(BOT).by == "operator"


@pytest.mark.parametrize("stored", ["PAUSED", "", "active"])
def test_a_state_nobody_wrote_through_the_module_reads_as_halted(
    states: TradingStates, client: redis.Redis, stored: str
) -> None:
    client.hset(GatewayKeys(BOT).state, mapping={"state": stored, "reason": "x"})
    record = states.get(BOT)
    assert record.state is TradingState.HALTED
    assert record.reason == f"unreadable state {stored!r}"


def test_decisions_read_back_oldest_first_and_only_the_newest(states: TradingStates) -> None:
    for n in range(5):
        states.record(BOT, kind="order", decision="allow", reason=f"r{n}", detail={"n": n})
    assert states.last_decisions("beta") == []
    decisions = states.last_decisions(BOT, count=3)
    assert [d.fields["reason"] for d in decisions] == ["r2", "r3", "r4"]
    assert decisions[0].fields["detail"] == '{"n": 2}'
    assert decisions[0].at_ms <= decisions[-1].at_ms
    assert states.last_decisions(BOT, count=0) == []  # `guard -n 0`: the numbers only


def test_redis_down_raises_state_unavailable_and_recording_is_best_effort(
    states: TradingStates, managed: ManagedRedis
) -> None:
    managed.stop()
    with pytest.raises(StateUnavailable):
        states.get(BOT)
    with pytest.raises(StateUnavailable):
        states.set(BOT, TradingState.HALTED, "x", by="operator")
    with pytest.raises(StateUnavailable):
        states.last_decisions(BOT)
    states.record(BOT, kind="order", decision="refuse")  # does not raise


def _bot_connection(managed: ManagedRedis, client: redis.Redis, bot: str) -> redis.Redis:
    """The bot's own memory user, applied as ``memory.deployment`` applies it."""
    _, name, *tokens = bot_rule(bot, "bot-password-0001").split()
    client.execute_command("ACL", "SETUSER", name, "reset", *tokens)
    admin = managed.admin()
    return Connection(admin.url, bot_user(bot), "bot-password-0001").client(socket_timeout=5)


def _refused(attempt: Callable[[], object]) -> bool:
    """Whether Redis refused the attempt for want of permission (any other error is not)."""
    try:
        attempt()
    except redis.ResponseError as error:
        return re.search(NOPERM, str(error)) is not None
    return False


def test_a_bots_memory_user_cannot_read_or_write_its_state_ledger_or_decisions(
    states: TradingStates, managed: ManagedRedis, client: redis.Redis
) -> None:
    states.set(BOT, TradingState.HALTED, "KILL", by="operator")
    ledger = Ledger(client, BOT, Decimal(100))
    assert ledger.reserve("oid-1", Decimal(10)).allowed
    before = ledger.snapshot()
    own = _bot_connection(managed, client, BOT)
    keys = GatewayKeys(BOT)
    # the user works on its own memory: the refusals below are the wall, not a broken login
    own.hset(BotKeys(BOT).meta, "note", "mine")
    assert own.hget(BotKeys(BOT).meta, "note") == b"mine"
    attempts = {
        "read state": lambda: own.hgetall(keys.state),
        "lift halt": lambda: own.hset(keys.state, "state", "ACTIVE"),
        "delete state": lambda: own.delete(keys.state),
        "read ledger": lambda: own.hgetall(keys.ledger),
        "zero ledger": lambda: own.hset(keys.ledger, "committed", 0),
        "drop reservation": lambda: own.hdel(keys.ledger_orders, "oid-1"),
        "forge decision": lambda: own.xadd(keys.decisions, {"kind": "state"}),
        "read decisions": lambda: own.xrange(keys.decisions),
        "script on ledger": lambda: own.eval(
            "return redis.call('HSET', KEYS[1], 'committed', 0)", 1, keys.ledger
        ),
        "undeclared key": lambda: own.eval(
            "return redis.call('DEL', ARGV[1])", 0, keys.ledger_orders
        ),
    }
    assert [what for what, attempt in attempts.items() if not _refused(attempt)] == []
    assert states.get(BOT).state is TradingState.HALTED
    after = ledger.snapshot()
    assert (after.committed, after.reservations) == (before.committed, before.reservations)
