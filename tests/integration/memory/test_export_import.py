"""Export and import on real servers: a backup restores exactly, and only once.

The last test drives the same through the command line (``bulkhead memory ...``) against
the test's server, as an operator would.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis
from typer.testing import CliRunner

from bulkhead.cli.main import build_app
from bulkhead.gateway.states import TradingState, TradingStates
from bulkhead.memory.export import export_jsonl, export_parquet
from bulkhead.memory.restore import ImportRefused, import_jsonl
from bulkhead.memory.server import Connection, ManagedRedis
from bulkhead.memory.store import MemoryStore, now_ms

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _remember(store: MemoryStore, make_trade, make_order) -> None:
    """A little of everything a bot keeps, including values that are easy to mangle."""
    now = now_ms()
    store.client.xadd(store.keys.events, {"event": "boot", "data": "{}"}, id=f"{now - DAY_MS}-7")
    for trade_id in range(1, 8):
        opened = now - (10 - trade_id) * HOUR_MS
        closed = opened + 600_000 if trade_id % 2 else None
        store.record_order(make_order(f"b-{trade_id}", trade_id, opened))
        if closed is not None:
            store.record_order(make_order(f"s-{trade_id}", trade_id, closed, side="sell"))
        store.record_trade(make_trade(trade_id, opened, close_ms=closed, pnl=trade_id / 3 - 1))
    store.record_event("decision", {"signal": "skip", "why": "spread 0.3% > 0.1%", "ü": 1})
    store.record_equity(100.0, now - 2 * HOUR_MS)
    store.record_equity(100, now - HOUR_MS)  # an int: must come back as "…:100", not "…:100.0"
    store.record_equity(1e-05, now - 1000)
    store.client.zadd(store.keys.equity_coarse, {f"{now - 30 * DAY_MS}:97.5": now - 30 * DAY_MS})
    store.add_insight("XRP fades after 14:00", source="analysis", evidence={"trades": [1, 3]})
    store.add_insight("operator: pause on CPI days", source="operator", ttl_days=2)
    store.set_meta(strategy="TwinScalper", version=3)


def _ttls(client: redis.Redis, bot: str) -> dict[str, int]:
    store = MemoryStore(client, bot)
    return {i["id"]: client.pttl(store.keys.insight(i["id"])) for i in store.insights()}


def test_an_export_imported_into_a_fresh_server_restores_everything_exactly(
    bot_content,
    client: redis.Redis,
    start_redis: Callable[[str], ManagedRedis],
    make_trade,
    make_order,
    tmp_path: Path,
):
    source = MemoryStore(client, "alpha")
    _remember(source, make_trade, make_order)
    backup = tmp_path / "alpha.jsonl"
    exported = export_jsonl(source, backup)
    assert exported == {
        "trade": 7,
        "order": 11,
        "event": 1 + 11 + 4 + 1,  # boot, order announcements, closes, the decision
        "equity_fine": 3,
        "equity_coarse": 1,
        "insight": 2,
        "meta": 1,
    }

    fresh = start_redis("fresh").admin().client()
    target = MemoryStore(fresh, "alpha")
    counts = import_jsonl(target, backup)
    assert counts == exported | {"meta": 2, "skipped_events": 0, "expired_insights": 0}
    assert bot_content(fresh, "alpha") == bot_content(client, "alpha")
    assert target.trades() == source.trades()
    assert target.orders() == source.orders()
    for insight_id, ttl in _ttls(client, "alpha").items():
        assert abs(_ttls(fresh, "alpha")[insight_id] - ttl) < 5_000

    before = bot_content(fresh, "alpha")
    again = import_jsonl(target, backup)
    assert again == dict.fromkeys(exported, 0) | {"skipped_events": 17, "expired_insights": 0}
    assert bot_content(fresh, "alpha") == before


def test_the_export_file_is_a_header_then_one_object_per_line(
    client: redis.Redis, make_trade, make_order, tmp_path: Path
):
    store = MemoryStore(client, "alpha")
    _remember(store, make_trade, make_order)
    export_jsonl(store, tmp_path / "alpha.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "alpha.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "header"
    assert lines[0]["version"] == 1
    assert {line["bot"] for line in lines} == {"alpha"}
    trade = next(line for line in lines if line["kind"] == "trade" and line["trade_id"] == 1)
    assert trade["is_open"] is False
    assert trade["realized_pnl"] == pytest.approx(1 / 3 - 1)


def test_an_export_is_owner_only_and_leaves_no_temporary_file(
    client: redis.Redis, make_trade, make_order, tmp_path: Path
):
    store = MemoryStore(client, "alpha")
    _remember(store, make_trade, make_order)
    export_jsonl(store, tmp_path / "backups" / "alpha.jsonl")
    export_parquet(store, tmp_path / "parquet")
    written = [tmp_path / "backups" / "alpha.jsonl", *(tmp_path / "parquet").iterdir()]
    assert len(written) == 6
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o600}
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_import_refuses_another_bots_file_unless_told_which_bot_to_copy_it_into(
    bot_content, client: redis.Redis, make_trade, make_order, tmp_path: Path
):
    source = MemoryStore(client, "alpha")
    _remember(source, make_trade, make_order)
    export_jsonl(source, tmp_path / "alpha.jsonl")
    beta = MemoryStore(client, "beta")
    with pytest.raises(ImportRefused, match=r"'alpha'.*--as beta"):
        import_jsonl(beta, tmp_path / "alpha.jsonl")
    assert bot_content(client, "beta") == {}
    counts = import_jsonl(beta, tmp_path / "alpha.jsonl", allow_other_bot=True)
    assert counts["trade"] == 7
    assert beta.trades() == source.trades()


def test_a_malformed_export_is_refused_with_its_line_and_writes_nothing(
    bot_content, client: redis.Redis, make_trade, make_order, tmp_path: Path
):
    source = MemoryStore(client, "alpha")
    _remember(source, make_trade, make_order)
    export_jsonl(source, tmp_path / "alpha.jsonl")
    lines = (tmp_path / "alpha.jsonl").read_text().splitlines()
    lines.insert(5, json.dumps({"kind": "trade", "bot": "alpha", "trade_id": 99}))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    beta = MemoryStore(client, "beta")
    with pytest.raises(ImportRefused, match=r"broken.jsonl:6: fields missing"):
        import_jsonl(beta, broken, allow_other_bot=True)
    assert bot_content(client, "beta") == {}
    lines = (tmp_path / "alpha.jsonl").read_text().splitlines()
    trade = json.loads(lines[1])
    assert trade["kind"] == "trade"
    lines[1] = json.dumps(trade | {"amount": str(trade["amount"])})  # a number as text
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRefused, match=r"broken.jsonl:2: amount must be float"):
        import_jsonl(beta, broken, allow_other_bot=True)
    assert bot_content(client, "beta") == {}
    (tmp_path / "other.jsonl").write_text('{"kind": "header", "bot": "alpha", "version": 9}\n')
    with pytest.raises(ImportRefused, match="version 9"):
        import_jsonl(source, tmp_path / "other.jsonl")


def test_parquet_export_writes_one_file_per_class_with_the_right_row_counts(
    client: redis.Redis, make_trade, make_order, tmp_path: Path
):
    store = MemoryStore(client, "alpha")
    _remember(store, make_trade, make_order)
    rows = export_parquet(store, tmp_path / "parquet")
    expected = {"trades": 7, "orders": 11, "events": 17, "equity": 4, "insights": 2}
    assert rows == expected
    for name, count in expected.items():
        table = pq.read_table(tmp_path / "parquet" / f"{name}.parquet")
        assert table.num_rows == count
    trades = pq.read_table(tmp_path / "parquet" / "trades.parquet").to_pylist()
    assert [t["trade_id"] for t in trades] == list(range(1, 8))
    assert trades[1]["close_rate"] is None


def test_parquet_export_of_an_empty_memory_writes_empty_typed_tables(
    client: redis.Redis, tmp_path: Path
):
    rows = export_parquet(MemoryStore(client, "alpha"), tmp_path / "empty")
    assert rows == {"trades": 0, "orders": 0, "events": 0, "equity": 0, "insights": 0}
    schema = pq.read_schema(tmp_path / "empty" / "trades.parquet")
    assert str(schema.field("realized_pnl").type) == "double"


def test_the_memory_commands_show_export_import_and_prune_a_bots_memory(
    client: redis.Redis, make_trade, make_order, tmp_path: Path, two_bot_spec: Path
):
    spec = two_bot_spec
    store = MemoryStore(client, "alpha")
    client.xadd(store.keys.events, {"event": "ancient", "data": "{}"}, id="1000-0")
    _remember(store, make_trade, make_order)
    states = TradingStates(client)
    states.record(
        "alpha",
        kind="order",
        decision="refuse",
        side="buy",
        symbol="XRP-USDT",
        reason="BUDGET_EXCEEDED cap=100.00 committed=96.10 order=12.40",
    )
    states.set("alpha", TradingState.HALTED, "KILL by operator", by="operator")
    runner, app = CliRunner(), build_app()

    shown = runner.invoke(app, ["memory", "show", "alpha", "--spec", str(spec), "-n", "3"])
    assert shown.exit_code == 0, shown.output
    assert "trades: 7 (3 open, 4 closed)" in shown.output
    assert "win rate: 50.0%" in shown.output
    assert "realized pnl: +1.3333333 USDT" in shown.output
    assert "decision" in shown.output
    assert "memory used:" in shown.output
    # beside the bot's memory, what the gateway decided about it
    assert "gateway: HALTED, committed 0.00 of cap 100.00 USDT, headroom 100.00" in shown.output
    assert "refuse buy XRP-USDT BUDGET_EXCEEDED cap=100.00 committed=96.10" in shown.output
    assert "HALTED KILL by operator" in shown.output

    backup = tmp_path / "alpha.jsonl"
    exported = runner.invoke(
        app, ["memory", "export", "alpha", "--spec", str(spec), "-o", str(backup)]
    )
    assert exported.exit_code == 0, exported.output
    imported = runner.invoke(
        app, ["memory", "import", str(backup), "--spec", str(spec), "--as", "beta"]
    )
    assert imported.exit_code == 0, imported.output
    assert MemoryStore(client, "beta").trades() == store.trades()

    refused = runner.invoke(
        app, ["memory", "prune", "--spec", str(spec), "--trades-older-than", "0"]
    )
    assert refused.exit_code == 2
    assert "--yes" in refused.output
    assert len(store.trades()) == 7

    pruned = runner.invoke(app, ["memory", "prune", "alpha", "--spec", str(spec)])
    assert pruned.exit_code == 0, pruned.output
    assert "alpha: events_removed 1," in pruned.output
    pruned = runner.invoke(
        app, ["memory", "prune", "--spec", str(spec), "--trades-older-than", "0", "--yes"]
    )
    assert pruned.exit_code == 0, pruned.output
    [alpha_line] = [line for line in pruned.output.splitlines() if line.startswith("alpha: ")]
    assert "trades_removed 4, orders_removed 8" in alpha_line
    assert [t.is_open for t in store.trades()] == [True, True, True]


def test_memory_acl_apply_creates_each_bots_user_and_prints_no_password(
    admin: Connection, client: redis.Redis, tmp_path: Path, two_bot_spec: Path
):
    spec = two_bot_spec
    result = CliRunner().invoke(build_app(), ["memory", "acl", "--spec", str(spec), "--apply"])
    assert result.exit_code == 0, result.output
    assert "applied: 2 bot user(s)" in result.output
    assert {"bot-alpha", "bot-beta", "bulkhead-reader"} <= {str(u) for u in client.acl_users()}
    for bot in ("alpha", "beta"):
        stored = json.loads((tmp_path / ".bulkhead" / "bots" / bot / "memory.json").read_text())
        assert stored["password"] not in result.output
    assert admin.password not in result.output


def test_a_wrong_admin_password_is_an_operator_error_naming_it(two_bot_spec: Path):
    (two_bot_spec.parent / ".env").write_text("TEST_REDIS_ADMIN=not-the-password\n")
    result = CliRunner().invoke(
        build_app(), ["memory", "show", "alpha", "--spec", str(two_bot_spec)]
    )
    assert result.exit_code == 2, result.output  # retrying changes nothing: fix it
    assert "memory: Redis refused the admin user" in result.output
    assert "not-the-password" not in result.output
    assert "Traceback" not in result.output
