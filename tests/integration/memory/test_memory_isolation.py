"""The walls between bots' memories, on a real Redis with the ACL users Bulkhead applies.

The fleet is examples/bulkhead.yaml with two bots, ``alpha`` and ``beta``, pointed at the
test's server; ``prepare_memory`` creates their users exactly as ``bulkhead up`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bulkhead.config.loader import load_fleet
from bulkhead.config.models import Retention
from bulkhead.config.workspace import Workspace
from bulkhead.memory.deployment import MemoryAccess, prepare_memory
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.retention import prune_due
from bulkhead.memory.server import Connection
from bulkhead.memory.store import MemoryStore

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
T0 = 1_767_225_600_000
BETA = BotKeys("beta")
NOPERM = r"(?i)noperm|no permissions|can't access"


@pytest.fixture
def access(admin: Connection, two_bot_spec: Path) -> MemoryAccess:
    """Two bots' users and the reader on the test's server, as the supervisor sets them up."""
    fleet = load_fleet(two_bot_spec)
    return prepare_memory(
        fleet, Workspace.for_spec(two_bot_spec), {"TEST_REDIS_ADMIN": admin.password}
    )


@pytest.fixture
def beta_memory(access: MemoryAccess, make_trade, make_order) -> dict[str, object]:
    """Beta's memory, written by beta's own user; returns a dump to compare against later."""
    beta = access.bots["beta"].client()
    store = MemoryStore(beta, "beta")
    store.record_order(make_order("o-1", 1, T0))
    store.record_trade(make_trade(1, T0))
    store.record_equity(100.0, T0)
    store.add_insight("beta's edge", source="analysis")
    beta.set(BETA.meta.replace("meta", "note"), "plain string key")
    return _dump(access)


def _dump(access: MemoryAccess) -> dict[str, object]:
    admin = access.admin.client()
    dump: dict[str, object] = {}
    for key in sorted(admin.scan_iter(match=BETA.pattern)):
        dump[key.decode()] = (admin.type(key), admin.dump(key))
    return dump


def _alpha(access: MemoryAccess) -> redis.Redis:
    return access.bots["alpha"].client()


def test_a_bot_cannot_read_another_bots_keys(access: MemoryAccess, beta_memory):
    alpha = _alpha(access)
    reads = [
        lambda: alpha.get(BETA.meta.replace("meta", "note")),
        lambda: alpha.hgetall(BETA.trade_data),
        lambda: alpha.hget(BETA.order_data, "o-1"),
        lambda: alpha.zrange(BETA.trades, 0, -1),
        lambda: alpha.xrange(BETA.events),
        lambda: alpha.exists(BETA.trade_data),
        lambda: alpha.dump(BETA.trade_data),
    ]
    for read in reads:
        with pytest.raises(redis.exceptions.NoPermissionError):
            read()
    with pytest.raises(redis.exceptions.NoPermissionError):
        MemoryStore(alpha, "beta").trades()


def test_a_bot_cannot_write_or_delete_another_bots_keys(access: MemoryAccess, beta_memory):
    alpha = _alpha(access)
    writes = [
        lambda: alpha.hset(BETA.trade_data, "1", "{}"),
        lambda: alpha.xadd(BETA.events, {"event": "forged"}),
        lambda: alpha.delete(BETA.trades),
        lambda: alpha.zadd(BETA.equity_fine, {"0:1e9": 0}),
        lambda: alpha.rename(BETA.meta.replace("meta", "note"), "bh:{alpha}:stolen"),
    ]
    for write in writes:
        with pytest.raises(redis.exceptions.NoPermissionError):
            write()
    assert _dump(access) == beta_memory


def test_a_bot_cannot_reach_another_bots_keys_from_a_script(
    access: MemoryAccess, beta_memory, make_trade
):
    alpha = _alpha(access)
    declared = "return redis.call('DEL', KEYS[1])"
    undeclared = "return redis.call('HSET', ARGV[1], '1', '{}')"
    with pytest.raises(redis.ResponseError, match=NOPERM):
        alpha.eval(declared, 1, BETA.trade_data)
    with pytest.raises(redis.ResponseError, match=NOPERM):
        alpha.eval(undeclared, 0, BETA.trade_data)
    with pytest.raises(redis.ResponseError, match=NOPERM):
        alpha.eval("return redis.call('HGETALL', KEYS[1])", 1, BETA.trade_data)
    with pytest.raises(redis.ResponseError, match=NOPERM):  # the recorder's own scripts
        MemoryStore(alpha, "beta").record_many([], [make_trade(1, T0, close_ms=T0 + 1)])
    assert _dump(access) == beta_memory


def test_a_bot_cannot_list_keys_or_run_admin_commands(access: MemoryAccess, beta_memory):
    alpha = _alpha(access)
    denied = [
        lambda: alpha.scan(0),
        lambda: alpha.keys("*"),
        lambda: alpha.randomkey(),
        lambda: alpha.flushall(),
        lambda: alpha.config_get("*"),
        lambda: alpha.acl_list(),
        lambda: alpha.execute_command("MONITOR"),
    ]
    for command in denied:
        with pytest.raises(redis.exceptions.NoPermissionError):
            command()
    assert _dump(access) == beta_memory


def test_each_bot_records_reads_and_prunes_its_own_memory(
    access: MemoryAccess, beta_memory, make_trade
):
    store = MemoryStore(_alpha(access), "alpha")
    assert store.record_trade(make_trade(7, T0, close_ms=T0 + 1000)) == 2
    assert store.record_many([], [make_trade(8, T0 + 1)]).trades_new_open == 1
    assert [t.trade_id for t in store.trades()] == [7, 8]
    assert store.events(count=5)[-1]["event"] == "trade_closed"
    store.record_equity(99.0, T0 - 30 * 86_400_000)  # due for downsampling
    admin = MemoryStore(access.admin.client(), "alpha")
    gone = admin.add_insight("expired", source="analysis")
    admin.client.delete(admin.keys.insight(gone))  # as if its TTL ran out
    report = prune_due(store, Retention(equity_coarse_days=100_000))
    assert report is not None
    assert (report.equity_coarse_added, report.insights_removed) == (1, 1)
    assert _dump(access) == beta_memory


def test_the_reader_reads_every_bot_and_writes_none(access: MemoryAccess, beta_memory, make_trade):
    MemoryStore(_alpha(access), "alpha").record_trade(make_trade(3, T0))
    reader = access.reader.client()
    assert [t.trade_id for t in MemoryStore(reader, "alpha").trades()] == [3]
    assert [t.trade_id for t in MemoryStore(reader, "beta").trades()] == [1]
    assert reader.xrange(BETA.events)
    assert reader.get(BETA.meta.replace("meta", "note")) == b"plain string key"
    assert MemoryStore(reader, "beta").memory_used() > 0
    writes = [
        lambda: reader.hset(BETA.trade_data, "1", "{}"),
        lambda: reader.xadd("bh:{alpha}:events", {"event": "forged"}),
        lambda: reader.delete(BETA.trades),
        lambda: reader.set("bh:{alpha}:x", "1"),
        lambda: reader.eval("return redis.call('DEL', KEYS[1])", 1, BETA.trades),
        lambda: reader.keys("*"),
    ]
    for write in writes:
        with pytest.raises(redis.exceptions.NoPermissionError):
            write()
    assert _dump(access) == beta_memory


def test_a_bot_adds_an_insight_as_its_own_user(access: MemoryAccess):
    MemoryStore(_alpha(access), "alpha").add_insight("note", source="operator")
