"""Account records beyond what ccxt calls: one account by id, and the HF account ledger.

KuCoin (docs-new, Account Info > Account & Funding; the universal SDK's
``GetSpotAccountDetailResp`` and ``GetSpotHFLedgerData``/``GetSpotHFLedgerReq``):

* ``GET /api/v1/accounts/{accountId}``: ``{currency, balance, available, holds}`` of an
  ``id`` that ``/api/v1/accounts`` lists; any other id is ``230008 account not exist``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simkit import Sim, Trader


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
