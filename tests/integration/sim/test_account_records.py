"""Account records beyond what ccxt calls: one account by id, and the HF account ledger.

KuCoin (docs-new, Account Info > Account & Funding; the universal SDK's
``GetSpotAccountDetailResp`` and ``GetSpotHFLedgerData``/``GetSpotHFLedgerReq``):

* ``GET /api/v1/accounts/{accountId}``: ``{currency, balance, available, holds}`` of an
  ``id`` that ``/api/v1/accounts`` lists; any other id is ``230008 account not exist``.
* ``GET /api/v1/hf/accounts/ledgers``: a bare list, newest first, of ``{id, currency,
  amount, fee, tax, balance, accountType, bizType, direction, createdAt, context}`` (all
  strings), filtered by currency (up to 10), direction, bizType, startAt/endAt, lastId
  (older than that id) and limit (100, at most 200).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from simkit import Account, Sim, Trader, account


def signed_data(sim: Sim, key: str, path: str, query: str = "") -> Any:
    payload = sim.signed(key, "GET", path, query=query).json()
    assert payload["code"] == "200000", payload
    return payload["data"]


def signed_code(sim: Sim, key: str, path: str, query: str = "") -> str:
    return str(sim.signed(key, "GET", path, query=query).json()["code"])


# -- one account by id ------------------------------------------------------------------


def test_each_listed_account_is_found_by_its_id_with_the_same_amounts(trader: Trader) -> None:
    exchange = trader.exchange
    exchange.create_order("XRP/USDT", "market", "buy", 10)
    bid = trader.quote()[0]
    price = float((bid * Decimal("0.9")).quantize(Decimal("0.00001")))
    exchange.create_order("XRP/USDT", "limit", "buy", 10, price)  # rests: USDT is held
    rows = signed_data(trader.sim, trader.key, "/api/v1/accounts")
    assert {row["currency"] for row in rows} == {"USDT", "XRP"}
    assert any(row["holds"] != "0" for row in rows)
    for row in rows:
        detail = signed_data(trader.sim, trader.key, f"/api/v1/accounts/{row['id']}")
        assert detail == {
            "currency": row["currency"],
            "balance": row["balance"],
            "available": row["available"],
            "holds": row["holds"],
        }


def test_an_account_id_of_another_user_or_none_at_all_is_230008(sim: Sim) -> None:
    master_rows = signed_data(sim, "master-admin", "/api/v1/accounts")
    assert master_rows
    before = sim.fingerprint()
    for account_id in (master_rows[0]["id"], "5bd6e9286d99522a52e458de", "ledgers-x"):
        response = sim.signed("bot1-trade", "GET", f"/api/v1/accounts/{account_id}")
        assert response.json() == {"code": "230008", "msg": "account not exist"}
    assert sim.fingerprint() == before


def test_a_general_only_key_reads_its_account_detail(sim: Sim) -> None:
    sim.add_key("read-only", "bot1", permissions=("General",))
    [row] = signed_data(sim, "read-only", "/api/v1/accounts")
    detail = signed_data(sim, "read-only", f"/api/v1/accounts/{row['id']}")
    assert detail["balance"] == "100"


def test_kucoins_classic_ledger_path_is_not_taken_for_an_account_id(sim: Sim) -> None:
    response = sim.signed("bot1-trade", "GET", "/api/v1/accounts/ledgers")
    assert response.status_code == 404
    assert response.json()["code"] == "404000"


# -- the HF account ledger --------------------------------------------------------------

LEDGER_KEYS = {
    "id", "currency", "amount", "fee", "tax", "balance", "accountType", "bizType",
    "direction", "createdAt", "context",
}  # fmt: skip
LEDGER = "/api/v1/hf/accounts/ledgers"


@pytest.fixture
def hf(sim: Sim) -> Account:
    return account(sim, "hf")


def ledger(acct: Account, query: str = "") -> list[dict[str, str]]:
    rows = signed_data(acct.sim, acct.key, LEDGER, query)
    assert isinstance(rows, list)
    return rows


def hf_market(acct: Account, side: str, size: str = "10") -> dict[str, Any]:
    body = {"symbol": "XRP-USDT", "side": side, "type": "market", "size": size}
    placed = acct.sim.signed_json(acct.key, "POST", "/api/v1/hf/orders", body).json()["data"]
    query = "symbol=XRP-USDT"
    order: dict[str, Any] = signed_data(
        acct.sim, acct.key, f"/api/v1/hf/orders/{placed['orderId']}", query
    )
    return order


def transfer(sim: Sim, direction: str, user: str, amount: str) -> None:
    uid = sim.user(user).uid
    body = {
        "clientOid": uuid.uuid4().hex,
        "currency": "USDT",
        "amount": amount,
        "type": direction,
        "fromAccountType": "MAIN" if direction == "PARENT_TO_SUB" else "TRADE_HF",
        "toAccountType": "TRADE_HF" if direction == "PARENT_TO_SUB" else "MAIN",
        ("toUserId" if direction == "PARENT_TO_SUB" else "fromUserId"): uid,
    }
    answer = sim.signed_json("master-admin", "POST", "/api/v3/accounts/universal-transfer", body)
    assert answer.json()["code"] == "200000", answer.json()


def test_an_hf_trade_puts_both_legs_on_the_ledger_in_kucoins_shape(hf: Account) -> None:
    buy = hf_market(hf, "buy")
    sell = hf_market(hf, "sell", "4")
    rows = ledger(hf)
    assert len(rows) == 4
    for row in rows:
        assert set(row) == LEDGER_KEYS
        assert all(isinstance(value, str) for value in row.values())
        assert (row["accountType"], row["bizType"], row["tax"]) == (
            "TRADE_HF",
            "TRADE_EXCHANGE",
            "0",
        )
    ids = [int(row["id"]) for row in rows]
    assert ids == sorted(ids, reverse=True)  # newest first
    sell_rows, buy_rows = rows[:2], rows[2:]
    legs = {(row["currency"], row["direction"]): row for row in buy_rows}
    assert legs["XRP", "in"]["amount"] == "10"
    assert legs["XRP", "in"]["fee"] == "0"
    spent = Decimal(buy["dealFunds"]) + Decimal(buy["fee"])
    assert Decimal(legs["USDT", "out"]["amount"]) == spent
    assert legs["USDT", "out"]["fee"] == buy["fee"]
    assert Decimal(legs["USDT", "out"]["balance"]) == 100 - spent
    legs = {(row["currency"], row["direction"]): row for row in sell_rows}
    assert (legs["XRP", "out"]["amount"], legs["XRP", "out"]["balance"]) == ("4", "6")
    received = Decimal(sell["dealFunds"]) - Decimal(sell["fee"])
    assert Decimal(legs["USDT", "in"]["amount"]) == received
    usdt, _ = hf.balance("USDT")
    assert Decimal(legs["USDT", "in"]["balance"]) == usdt
    [fill] = [
        f
        for f in signed_data(hf.sim, hf.key, "/api/v1/hf/fills", "symbol=XRP-USDT")["items"]
        if f["orderId"] == sell["id"]
    ]
    context = json.loads(legs["USDT", "in"]["context"])
    assert context == {"symbol": "XRP-USDT", "orderId": sell["id"], "tradeId": str(fill["tradeId"])}


def test_transfers_in_and_out_of_the_hf_account_are_on_its_ledger(hf: Account) -> None:
    transfer(hf.sim, "PARENT_TO_SUB", hf.user, "25")
    transfer(hf.sim, "SUB_TO_PARENT", hf.user, "5")
    newest, oldest = ledger(hf)
    assert (oldest["bizType"], oldest["direction"], oldest["amount"]) == ("TRANSFER", "in", "25")
    assert oldest["balance"] == "125"
    assert (newest["bizType"], newest["direction"], newest["amount"]) == ("TRANSFER", "out", "5")
    assert newest["balance"] == "120"
    # the master's MAIN account and the classic sub-account have no HF ledger
    assert signed_data(hf.sim, "master-admin", LEDGER) == []
    assert signed_data(hf.sim, "bot1-trade", LEDGER) == []


def test_the_ledger_filters_as_kucoin_documents(hf: Account) -> None:
    transfer(hf.sim, "PARENT_TO_SUB", hf.user, "25")
    hf_market(hf, "buy")
    hf_market(hf, "sell")
    everything = ledger(hf)
    assert len(everything) == 5

    def ids(query: str) -> list[str]:
        return [row["id"] for row in ledger(hf, query)]

    assert ids("currency=XRP") == [r["id"] for r in everything if r["currency"] == "XRP"]
    assert ids("currency=XRP,USDT") == [r["id"] for r in everything]
    assert ids("direction=in") == [r["id"] for r in everything if r["direction"] == "in"]
    assert ids("bizType=TRANSFER") == [everything[-1]["id"]]
    assert ids("bizType=TRADE_EXCHANGE&direction=out&currency=USDT") == [everything[2]["id"]]
    assert ids("limit=2") == [r["id"] for r in everything[:2]]
    assert ids(f"limit=2&lastId={everything[1]['id']}") == [r["id"] for r in everything[2:4]]
    first_trade = int(everything[3]["createdAt"])
    assert ids(f"startAt={first_trade}") == [
        r["id"] for r in everything if int(r["createdAt"]) >= first_trade
    ]
    assert ids(f"endAt={first_trade - 1}") == [
        r["id"] for r in everything if int(r["createdAt"]) < first_trade
    ]


@pytest.mark.parametrize(
    "query",
    ["currency=" + ",".join(f"C{i}" for i in range(11)), "direction=sideways"],
)
def test_a_ledger_query_outside_kucoins_limits_is_400100(hf: Account, query: str) -> None:
    assert signed_code(hf.sim, hf.key, LEDGER, query) == "400100"


def test_ccxt_fetch_ledger_reads_the_hf_ledger(hf: Account) -> None:
    exchange = hf.sim.client(hf.key)
    assert exchange.options["hf"] is True
    placed = exchange.create_order("XRP/USDT", "market", "buy", 10)
    [trade] = exchange.fetch_my_trades("XRP/USDT")
    entries = exchange.fetch_ledger("USDT")
    assert len(entries) == 1
    [entry] = entries
    assert entry["currency"] == "USDT"
    assert entry["direction"] == "out"
    assert entry["account"] == "TRADE_HF"
    assert entry["referenceId"] == trade["id"]
    assert entry["amount"] == pytest.approx(trade["cost"] + trade["fee"]["cost"])
    assert trade["order"] == placed["id"]
