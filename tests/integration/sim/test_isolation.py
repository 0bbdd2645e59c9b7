"""A bot's trade-only sub-account key is walled in: it sees and moves only its own money."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from simkit import Sim, Trader

SYMBOL = "XRP/USDT"
WITHDRAW_TO = "0x5a0b54d5dc17e0aadc383d2db43b0a0d3e029c4c"


def master_main_usdt(sim: Sim) -> Decimal:
    return sim.balance("master", "main", "USDT")[0]


def test_sub_account_key_sees_only_its_own_100_usdt_not_the_master_10000(sim: Sim) -> None:
    bot = sim.client("bot1-trade")
    balance = bot.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(100)
    assert balance["total"] == {"USDT": 100.0}
    # not in the funding account either: the master's main account is not the sub's
    main = bot.fetch_balance({"type": "main"})
    assert main["total"] == {}
    rows = bot.privateGetAccounts()["data"]
    assert [(r["currency"], r["type"], r["balance"]) for r in rows] == [("USDT", "trade", "100")]
    # while the master, with its own key, does see the 10,000
    master = sim.client("master-admin")
    assert master.fetch_balance({"type": "main"})["USDT"]["total"] == pytest.approx(10_000)


def test_sub_account_key_cannot_transfer_and_master_balance_is_unchanged(sim: Sim) -> None:
    bot = sim.client("bot1-trade")
    master_uid = sim.user("master").uid
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        bot.transfer("USDT", 50, "main", "spot")
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        bot.transfer(
            "USDT", 5_000, "main", "spot", {"type": "SUB_TO_PARENT", "fromUserId": master_uid}
        )
    assert master_main_usdt(sim) == Decimal(10_000)
    assert sim.balance("bot1", "trade", "USDT") == (Decimal(100), Decimal(0))
    refused = [m for m in sim.twin.state.movements if m.kind == "universal-transfer"]
    assert len(refused) == 2
    assert all(not m.accepted for m in refused)
    assert all(m.code == "400007" for m in refused)
    assert all(m.uid == sim.user("bot1").uid for m in refused)


def test_sub_account_key_cannot_withdraw_and_the_attempt_is_recorded(sim: Sim) -> None:
    bot = sim.client("bot1-trade")
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        bot.withdraw("USDT", 10, WITHDRAW_TO)
    assert master_main_usdt(sim) == Decimal(10_000)
    assert sim.balance("bot1", "trade", "USDT")[0] == Decimal(100)
    [attempt] = [m for m in sim.twin.state.movements if m.kind == "withdrawal"]
    assert attempt.accepted is False
    assert attempt.code == "400007"
    assert attempt.api_key == sim.credentials["bot1-trade"]["apiKey"]


def test_sub_account_key_cannot_use_the_legacy_transfer_endpoints_either(sim: Sim) -> None:
    master_uid = sim.user("master").uid
    body = {"clientOid": "x1", "currency": "USDT", "amount": "10"}
    inner = sim.signed_json(
        "bot1-trade",
        "POST",
        "/api/v2/accounts/inner-transfer",
        {**body, "from": "main", "to": "trade"},
    )
    sub = sim.signed_json(
        "bot1-trade",
        "POST",
        "/api/v2/accounts/sub-transfer",
        {
            **body,
            "direction": "IN",
            "accountType": "MAIN",
            "subAccountType": "MAIN",
            "subUserId": master_uid,
        },
    )
    assert inner.json()["code"] == "400007"
    assert sub.json()["code"] == "400007"
    assert master_main_usdt(sim) == Decimal(10_000)
    assert {(m.kind, m.accepted) for m in sim.twin.state.movements} == {
        ("inner-transfer", False),
        ("sub-transfer", False),
    }


def test_master_key_with_flex_transfers_can_fund_the_sub_account(sim: Sim) -> None:
    master = sim.client("master-admin")
    bot1 = sim.user("bot1")
    master.transfer("USDT", 25, "main", "spot", {"type": "PARENT_TO_SUB", "toUserId": bot1.uid})
    assert master_main_usdt(sim) == Decimal(9_975)
    assert sim.client("bot1-trade").fetch_balance()["USDT"]["total"] == pytest.approx(125)
    [movement] = sim.twin.state.movements
    assert movement.kind == "universal-transfer"
    assert movement.accepted is True
    assert movement.code == "200000"
    assert movement.uid == sim.user("master").uid


def test_master_transfer_beyond_its_balance_is_refused_and_recorded(sim: Sim) -> None:
    master = sim.client("master-admin")
    bot1 = sim.user("bot1")
    with pytest.raises(ccxt.InsufficientFunds):
        master.transfer(
            "USDT", 20_000, "main", "spot", {"type": "PARENT_TO_SUB", "toUserId": bot1.uid}
        )
    assert master_main_usdt(sim) == Decimal(10_000)
    assert sim.balance("bot1", "trade", "USDT")[0] == Decimal(100)
    [movement] = sim.twin.state.movements
    assert (movement.accepted, movement.code) == (False, "200004")


def test_sub_account_key_cannot_fetch_or_cancel_the_master_order_by_id(trader: Trader) -> None:
    sim = trader.sim
    sim.twin.set_balance(sim.user("master"), "USDT", Decimal(1_000), "trade")
    master = sim.client("master-admin")
    bid, _, _ = trader.quote()
    price = float((bid * Decimal("0.97")).quantize(Decimal("0.00001")))
    theirs = master.create_order(SYMBOL, "limit", "buy", 10, price)

    bot = trader.exchange
    with pytest.raises(ccxt.OrderNotFound):
        bot.fetch_order(theirs["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        bot.cancel_order(theirs["id"], SYMBOL)
    assert theirs["id"] not in {o["id"] for o in bot.fetch_open_orders(SYMBOL)}
    assert master.fetch_order(theirs["id"], SYMBOL)["status"] == "open"
    assert sim.twin.state.orders[theirs["id"]].is_active


def test_sub_account_key_cannot_list_or_manage_sub_accounts(sim: Sim) -> None:
    for method, path in [
        ("GET", "/api/v2/sub/user"),
        ("GET", "/api/v2/sub-accounts"),
        ("GET", f"/api/v1/sub-accounts/{sim.user('master').uid}"),
    ]:
        payload = sim.signed("bot1-trade", method, path).json()
        assert payload["code"] == "400007", (path, payload)
