"""A twin restarted from its snapshot carries on: balances, holds, orders, fills, the HF
ledger and keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from simkit import EXAMPLE, Sim, Trader

from bulkhead.sim.engine import Twin
from bulkhead.sim.server import TwinServer, prepare

SYMBOL = "XRP/USDT"


def save_and_load(sim: Sim, path: Path) -> Twin:
    sim.twin.save(path)
    return Twin.load(path, base_dir=EXAMPLE.parent.resolve())


def snapshot_and_restart(sim: Sim, path: Path) -> Twin:
    """The operator's way: admin snapshot, then ``bulkhead sim serve --state``'s prepare()."""
    assert sim.admin("POST", "snapshot", {"path": str(path)}) == {"path": str(path)}
    prepared = prepare(EXAMPLE, state_path=path)
    assert prepared.credentials == []  # keys are not minted again on a restart
    return prepared.twin


@pytest.mark.parametrize(
    "restart", [save_and_load, snapshot_and_restart], ids=["save-load", "admin-prepare"]
)
def test_a_restarted_twin_keeps_balances_holds_the_open_order_and_the_old_key(
    trader: Trader, tmp_path: Path, restart: Callable[[Sim, Path], Twin]
) -> None:
    sim, exchange = trader.sim, trader.exchange
    bought = exchange.create_order(SYMBOL, "market", "buy", 10)
    bid, _, _ = trader.quote()
    price = float((bid * Decimal("0.97")).quantize(Decimal("0.00001")))
    client_oid = f"ft-{uuid.uuid4().hex}"
    resting = exchange.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})
    before = exchange.fetch_balance()
    assert before["USDT"]["used"] > 0
    holds_before = trader.balance("USDT")
    ledger_before = [entry["id"] for entry in exchange.fetch_ledger()] if trader.hf else []

    twin = restart(sim, tmp_path / "state.json")

    with TwinServer(twin) as server:
        restored = Sim(server, dict(sim.credentials))
        try:
            assert restored.balance(trader.user, trader.account, "USDT") == holds_before
            client = restored.client(trader.key)  # the old key, unchanged
            assert client.options["hf"] is trader.hf
            after = client.fetch_balance()
            for currency in ("USDT", "XRP"):
                assert after[currency] == before[currency]

            [still_open] = client.fetch_open_orders(SYMBOL)
            assert still_open["id"] == resting["id"]
            assert still_open["price"] == pytest.approx(price)
            by_oid = client.fetch_order(None, SYMBOL, {"clientOid": client_oid})
            assert by_oid["id"] == resting["id"]
            assert [t["order"] for t in client.fetch_my_trades(SYMBOL)] == [bought["id"]]
            if trader.hf:  # the trade's two legs
                assert len(ledger_before) == 2
                assert [entry["id"] for entry in client.fetch_ledger()] == ledger_before

            # the clientOid index survived: a retry is still refused
            with pytest.raises(ccxt.InvalidOrder):
                client.create_order(SYMBOL, "limit", "buy", 10, price, {"clientOid": client_oid})
            # new ids never collide with the ones from before the restart
            fresh = client.create_order(SYMBOL, "market", "buy", 5)
            assert fresh["id"] not in {bought["id"], resting["id"]}

            client.cancel_order(resting["id"], SYMBOL)
            assert client.fetch_balance()["USDT"]["used"] == pytest.approx(0)
        finally:
            restored.http.close()


def test_a_restarted_twin_still_refuses_the_sub_account_a_transfer(
    sim: Sim, tmp_path: Path
) -> None:
    twin = snapshot_and_restart(sim, tmp_path / "state.json")
    with TwinServer(twin) as server:
        restored = Sim(server, dict(sim.credentials))
        try:
            with pytest.raises(ccxt.AuthenticationError, match="400007"):
                restored.client("bot1-trade").transfer("USDT", 10, "main", "spot")
            assert restored.balance("master", "main", "USDT")[0] == Decimal(10_000)
            assert [m.accepted for m in restored.twin.state.movements] == [False]
        finally:
            restored.http.close()
