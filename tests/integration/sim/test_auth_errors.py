"""Each way of getting a private request wrong earns its own KuCoin code, through real ccxt.

Every refusal is also written to the twin's ``auth_refusals`` log, and none changes state.
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from simkit import Sim, account

from bulkhead.kucoin import ccxt_overrides
from bulkhead.sim.auth import sign

WRONG_SECRET = "00000000-0000-0000-0000-000000000000"


def client_with(sim: Sim, name: str, **override: Any) -> ccxt.kucoin:
    """A client for the named key with some credential swapped; markets not loaded."""
    cred = sim.credentials[name]
    config = {"apiKey": cred["apiKey"], "secret": cred["secret"], "password": cred["passphrase"]}
    config.update(override)
    return sim.client(None, load=False, **config)


def refusal_codes(sim: Sim) -> list[str]:
    return [refusal.code for refusal in sim.twin.state.auth_refusals]


def test_the_right_credentials_are_accepted(sim: Sim) -> None:
    exchange = client_with(sim, "bot1-trade")
    assert exchange.privateGetAccounts()["code"] == "200000"
    assert refusal_codes(sim) == []


def test_a_signature_made_with_the_wrong_secret_is_400005(sim: Sim) -> None:
    class WrongSignature(ccxt.kucoin):  # type: ignore[misc]
        """Signs the prehash with another secret; the passphrase stays right."""

        def sign(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            request = super().sign(*args, **kwargs)
            headers = request["headers"]
            if "KC-API-SIGN" in headers:
                headers["KC-API-SIGN"] = sign(WRONG_SECRET, "anything signed with it")
            return request

    cred = sim.credentials["bot1-trade"]
    exchange = WrongSignature(
        {
            **ccxt_overrides(sim.url),
            "apiKey": cred["apiKey"],
            "secret": cred["secret"],
            "password": cred["passphrase"],
        }
    )
    with pytest.raises(ccxt.AuthenticationError, match="400005"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400005"]


def test_a_raw_request_signed_with_the_wrong_secret_is_400005(sim: Sim) -> None:
    cred = sim.credentials["bot1-trade"]
    timestamp = str(sim.twin.wall_ms())
    response = sim.http.get(
        "/api/v1/accounts",
        headers={
            "KC-API-KEY": cred["apiKey"],
            "KC-API-TIMESTAMP": timestamp,
            "KC-API-KEY-VERSION": "2",
            "KC-API-PASSPHRASE": sign(cred["secret"], cred["passphrase"]),
            "KC-API-SIGN": sign(WRONG_SECRET, f"{timestamp}GET/api/v1/accounts"),
        },
    )
    assert response.status_code == 401
    assert response.json()["code"] == "400005"


def test_a_ccxt_client_with_the_wrong_secret_gets_400005(sim: Sim) -> None:
    # ccxt's v2 passphrase is HMAC'd with the secret too, so the signature is checked
    # first: a wrong secret must read as a wrong secret, not a wrong passphrase.
    exchange = client_with(sim, "bot1-trade", secret=WRONG_SECRET)
    with pytest.raises(ccxt.AuthenticationError, match="400005"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400005"]


def test_a_wrong_passphrase_is_400004(sim: Sim) -> None:
    exchange = client_with(sim, "bot1-trade", password="not-the-passphrase")
    with pytest.raises(ccxt.AuthenticationError, match="400004"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400004"]


@pytest.mark.parametrize("skew_ms", [10_000, -10_000], ids=["behind", "ahead"])
def test_a_timestamp_more_than_5_s_off_is_400002_invalid_nonce(sim: Sim, skew_ms: int) -> None:
    exchange = client_with(sim, "bot1-trade")
    exchange.options["timeDifference"] = skew_ms  # ccxt's nonce() subtracts this
    with pytest.raises(ccxt.InvalidNonce, match="400002"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400002"]
    # the same client, once its clock agrees again, is let in
    exchange.options["timeDifference"] = 0
    assert exchange.privateGetAccounts()["code"] == "200000"


def test_a_timestamp_a_little_off_is_still_inside_the_window(sim: Sim) -> None:
    exchange = client_with(sim, "bot1-trade")
    exchange.options["timeDifference"] = 2_000
    assert exchange.privateGetAccounts()["code"] == "200000"


def test_an_unknown_key_is_400003(sim: Sim) -> None:
    exchange = client_with(sim, "bot1-trade", apiKey=secrets.token_hex(12))
    with pytest.raises(ccxt.AuthenticationError, match="400003"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400003"]


def test_a_key_whitelisted_for_another_ip_is_400006(sim: Sim) -> None:
    # 10.1.2.3 is only written into the key's whitelist; no traffic is sent there.
    sim.add_key("walled", "bot1", ip_whitelist=["10.1.2.3"])
    exchange = client_with(sim, "walled")
    with pytest.raises(ccxt.AuthenticationError, match="400006"):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == ["400006"]
    assert sim.twin.state.auth_refusals[0].ip == "127.0.0.1"


@pytest.mark.parametrize("whitelist", [["127.0.0.1"], ["10.1.2.3", "127.0.0.0/8"]])
def test_a_key_whitelisted_for_this_ip_is_accepted(sim: Sim, whitelist: list[str]) -> None:
    sim.add_key("local", "bot1", ip_whitelist=whitelist)
    assert client_with(sim, "local").privateGetAccounts()["code"] == "200000"


def test_a_request_without_any_auth_header_is_400001(sim: Sim) -> None:
    response = sim.http.get("/api/v1/accounts")
    assert response.status_code == 401
    assert response.json()["code"] == "400001"


@pytest.mark.parametrize(
    "missing", ["KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE"]
)
def test_a_request_missing_one_auth_header_is_400001_naming_it(sim: Sim, missing: str) -> None:
    cred = sim.credentials["bot1-trade"]
    timestamp = str(sim.twin.wall_ms())
    headers = {
        "KC-API-KEY": cred["apiKey"],
        "KC-API-TIMESTAMP": timestamp,
        "KC-API-KEY-VERSION": "2",
        "KC-API-PASSPHRASE": sign(cred["secret"], cred["passphrase"]),
        "KC-API-SIGN": sign(cred["secret"], f"{timestamp}GET/api/v1/accounts"),
    }
    assert sim.http.get("/api/v1/accounts", headers=headers).json()["code"] == "200000"
    del headers[missing]
    response = sim.http.get("/api/v1/accounts", headers=headers)
    payload = response.json()
    assert response.status_code == 401
    assert payload["code"] == "400001"
    assert missing in payload["msg"]


def test_ccxt_without_credentials_refuses_locally_before_sending(sim: Sim) -> None:
    exchange = sim.client(None, load=False)
    with pytest.raises(ccxt.AuthenticationError):
        exchange.privateGetAccounts()
    assert refusal_codes(sim) == []


def test_a_general_only_key_can_read_but_placing_an_order_is_400007(sim: Sim) -> None:
    sim.add_key("read-only", "bot1", permissions=("General",))
    exchange = sim.client("read-only")
    assert exchange.fetch_balance()["USDT"]["total"] == pytest.approx(100)
    before = sim.fingerprint()
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        exchange.create_order("XRP/USDT", "market", "buy", 10)
    with pytest.raises(ccxt.AuthenticationError, match="400007"):
        exchange.fetch_open_orders("XRP/USDT")
    assert sim.fingerprint() == before
    assert refusal_codes(sim) == ["400007", "400007"]
    assert sim.twin.state.auth_refusals[0].path == "/api/v1/orders"


# -- encoded characters: KuCoin signs the URL before it is percent-encoded ------------------


def _signed_headers(cred: dict[str, Any], method: str, signed_target: str) -> dict[str, str]:
    timestamp = str(time.time_ns() // 1_000_000)
    return {
        "KC-API-KEY": cred["apiKey"],
        "KC-API-TIMESTAMP": timestamp,
        "KC-API-KEY-VERSION": "2",
        "KC-API-PASSPHRASE": sign(cred["secret"], cred["passphrase"]),
        "KC-API-SIGN": sign(cred["secret"], f"{timestamp}{method}{signed_target}"),
    }


def test_an_encoded_query_signed_over_its_decoded_form_is_accepted_as_kucoin_documents(
    sim: Sim,
) -> None:
    # KuCoin's example: /api/v1/sub/api-key?...&passphrase=abc%21%40%2311 is signed as
    # /api/v1/sub/api-key?...&passphrase=abc!@#11 (docs-new/authentication).
    doomed = sim.twin.create_key(sim.user("bot1"), ["General"])
    query = f"apiKey={doomed.api_key}&subName=bot1&passphrase="
    sent = f"/api/v1/sub/api-key?{query}abc%21%40%2311"
    decoded = f"/api/v1/sub/api-key?{query}abc!@#11"
    master = sim.credentials["master-admin"]

    over_encoded = sim.http.delete(sent, headers=_signed_headers(master, "DELETE", sent))
    assert over_encoded.json()["code"] == "400005"
    assert doomed.api_key in sim.twin.state.keys

    over_decoded = sim.http.delete(sent, headers=_signed_headers(master, "DELETE", decoded))
    assert over_decoded.json() == {
        "code": "200000",
        "data": {"subName": "bot1", "apiKey": doomed.api_key},
    }
    assert doomed.api_key not in sim.twin.state.keys


@pytest.mark.parametrize("mode", ["classic", "hf"])
def test_ccxt_finds_and_cancels_an_order_whose_client_oid_its_http_library_escapes(
    sim: Sim, mode: str
) -> None:
    # ccxt signs "/client-order/bot|1 é" and sends "/client-order/bot%7C1%20%C3%A9".
    exchange = sim.client(account(sim, mode).key)
    client_oid = "bot|1 é"
    bid = sim.twin.quote("XRP-USDT")[0]
    price = float((bid * Decimal("0.9")).quantize(Decimal("0.00001")))
    placed = exchange.create_order("XRP/USDT", "limit", "buy", 10, price, {"clientOid": client_oid})

    found = exchange.fetch_order(None, "XRP/USDT", {"clientOid": client_oid})
    assert found["id"] == placed["id"]
    assert found["clientOrderId"] == client_oid
    exchange.cancel_order(None, "XRP/USDT", {"clientOid": client_oid})
    assert exchange.fetch_order(placed["id"], "XRP/USDT")["status"] == "canceled"
    assert refusal_codes(sim) == []
