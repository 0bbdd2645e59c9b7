"""The twin's request authentication: KuCoin's signature, and its order of checks.

Each test breaks one or more things at once and checks that the *first* failing check in
KuCoin's order is the one reported: headers, key, timestamp, signature, passphrase, IP.
"""

from __future__ import annotations

import pytest

from bulkhead.sim import errors
from bulkhead.sim.auth import TIMESTAMP_WINDOW_MS, _signature, authenticate, prehash, sign
from bulkhead.sim.models import ApiKey

NOW_MS = 1_547_015_186_532
PATH = "/api/v1/deposit-addresses"
BODY = '{"currency":"BTC"}'
LOCAL_IP = "127.0.0.1"


def make_key(version: int = 2, whitelist: tuple[str, ...] = ()) -> ApiKey:
    return ApiKey(
        api_key="6f0c2d2e8a1b4c3d2e1f0a9b",
        secret="f03a5284-5c39-4aaa-9b20-dea10bdcf8e3",
        passphrase="correct horse",
        uid="10000002",
        version=version,
        permissions=["General", "Spot"],
        ip_whitelist=list(whitelist),
    )


def headers_for(
    key: ApiKey,
    *,
    timestamp_ms: int = NOW_MS,
    version: str = "2",
    passphrase: str | None = None,
    secret: str | None = None,
    method: str = "POST",
    path: str = PATH,
    body: str = BODY,
) -> dict[str, str]:
    """Headers as a correct client would send them, lower-cased as the app stores them."""
    secret = secret or key.secret
    raw_passphrase = passphrase if passphrase is not None else key.passphrase
    sent_passphrase = raw_passphrase if version == "1" else sign(secret, raw_passphrase)
    return {
        "kc-api-key": key.api_key,
        "kc-api-timestamp": str(timestamp_ms),
        "kc-api-key-version": version,
        "kc-api-passphrase": sent_passphrase,
        "kc-api-sign": sign(secret, prehash(str(timestamp_ms), method, path, body)),
    }


def check(
    headers: dict[str, str],
    key: ApiKey,
    *,
    now_ms: int = NOW_MS,
    ip: str = LOCAL_IP,
    method: str = "POST",
    path: str = PATH,
    body: str = BODY,
) -> ApiKey:
    # As the app hands them over: the headers, path and body as bytes on the wire.
    sent = {name.encode(): value.encode() for name, value in headers.items()}
    return authenticate(sent, {key.api_key: key}, method, path.encode(), body.encode(), now_ms, ip)


def code_of(headers: dict[str, str], key: ApiKey, **kwargs: object) -> str:
    with pytest.raises(errors.KucoinError) as caught:
        check(headers, key, **kwargs)  # type: ignore[arg-type]
    return caught.value.code


# -- the signature ------------------------------------------------------------------------


def test_sign_matches_kucoins_official_test_vector() -> None:
    text = prehash("1547015186532", "POST", "/api/v1/deposit-addresses", '{"currency":"BTC"}')
    assert text == '1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    assert (
        sign("f03a5284-5c39-4aaa-9b20-dea10bdcf8e3", text)
        == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
    )


@pytest.mark.parametrize("secret_length", [0, 1, 36, 63, 64, 65, 200])
def test_the_cached_key_signature_equals_a_one_shot_hmac(secret_length: int) -> None:
    # Secrets longer than SHA-256's block are hashed first; shorter ones are padded.
    secret = ("k3y-" * 60)[:secret_length]
    message = b"1547015186532POST/api/v1/orders{}"
    assert _signature(secret, message) == sign(secret, message.decode()).encode()


def test_prehash_upper_cases_the_method_and_keeps_the_query() -> None:
    assert prehash("1", "get", "/api/v1/orders?status=active", "") == (
        "1GET/api/v1/orders?status=active"
    )


# -- accepted requests -------------------------------------------------------------------


def test_a_correct_v2_request_returns_its_key() -> None:
    key = make_key()
    assert check(headers_for(key), key) is key


def test_a_v1_key_sends_its_passphrase_in_plain() -> None:
    key = make_key(version=1)
    assert check(headers_for(key, version="1"), key) is key


def test_a_request_without_a_version_header_is_judged_as_v1() -> None:
    key = make_key(version=1)
    headers = headers_for(key, version="1")
    del headers["kc-api-key-version"]
    assert check(headers, key) is key


def test_a_timestamp_exactly_at_the_edge_of_the_window_is_accepted() -> None:
    key = make_key()
    for skew in (TIMESTAMP_WINDOW_MS, -TIMESTAMP_WINDOW_MS):
        assert check(headers_for(key, timestamp_ms=NOW_MS + skew), key) is key


@pytest.mark.parametrize("whitelist", [("127.0.0.1",), ("10.1.2.3", "127.0.0.0/8")])
def test_an_ip_in_the_whitelist_or_its_network_is_accepted(whitelist: tuple[str, ...]) -> None:
    key = make_key(whitelist=whitelist)
    assert check(headers_for(key), key) is key


def test_a_get_signs_path_and_query_with_an_empty_body() -> None:
    key = make_key()
    path = "/api/v1/orders?status=active&symbol=XRP-USDT"
    headers = headers_for(key, method="GET", path=path, body="")
    assert check(headers, key, method="GET", path=path, body="") is key
    assert code_of(headers, key, method="GET", path="/api/v1/orders", body="") == "400005"


# KuCoin's own example (docs-new/authentication): the URL as sent, and the one it signs.
ENCODED = "/api/v1/sub/api-key?apiKey=67b3&subName=test&passphrase=abc%21%40%2311"
DECODED = "/api/v1/sub/api-key?apiKey=67b3&subName=test&passphrase=abc!@#11"


def test_an_encoded_query_is_verified_over_its_decoded_form_as_kucoin_documents() -> None:
    key = make_key()
    headers = headers_for(key, method="DELETE", path=DECODED, body="")
    assert check(headers, key, method="DELETE", path=ENCODED, body="") is key


def test_a_signature_over_the_encoded_form_is_400005_as_on_kucoin() -> None:
    key = make_key()
    headers = headers_for(key, method="DELETE", path=ENCODED, body="")
    assert code_of(headers, key, method="DELETE", path=ENCODED, body="") == "400005"


def test_a_path_escaped_by_the_http_library_is_verified_as_ccxt_signed_it() -> None:
    # ccxt signs the path and query un-encoded; requests then escapes "|", spaces, "é".
    key = make_key()
    signed = "/api/v1/hf/orders/client-order/bot|1 é?symbol=XRP-USDT&remark=a+b"
    sent = "/api/v1/hf/orders/client-order/bot%7C1%20%C3%A9?symbol=XRP-USDT&remark=a+b"
    headers = headers_for(key, method="GET", path=signed, body="")
    assert check(headers, key, method="GET", path=sent, body="") is key


def test_a_malformed_escape_is_signed_as_sent_and_never_a_server_error() -> None:
    key = make_key()
    path = "/api/v1/orders?symbol=%zz&x=%"
    headers = headers_for(key, method="GET", path=path, body="")
    assert check(headers, key, method="GET", path=path, body="") is key


# -- each failure alone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["kc-api-key", "kc-api-sign", "kc-api-timestamp", "kc-api-passphrase"]
)
def test_each_missing_or_empty_header_is_400001(header: str) -> None:
    key = make_key()
    missing = headers_for(key)
    del missing[header]
    assert code_of(missing, key) == "400001"
    empty = {**headers_for(key), header: ""}
    assert code_of(empty, key) == "400001"


def test_an_unknown_key_is_400003() -> None:
    key = make_key()
    assert code_of({**headers_for(key), "kc-api-key": "nobody"}, key) == "400003"


@pytest.mark.parametrize("skew", [TIMESTAMP_WINDOW_MS + 1, -TIMESTAMP_WINDOW_MS - 1])
def test_a_timestamp_outside_the_window_is_400002(skew: int) -> None:
    key = make_key()
    assert code_of(headers_for(key), key, now_ms=NOW_MS + skew) == "400002"


def test_a_timestamp_that_is_not_a_number_is_400002() -> None:
    key = make_key()
    assert code_of({**headers_for(key), "kc-api-timestamp": "yesterday"}, key) == "400002"


def test_a_wrong_passphrase_is_400004() -> None:
    key = make_key()
    assert code_of(headers_for(key, passphrase="wrong"), key) == "400004"


def test_a_plain_passphrase_sent_as_v2_is_400004() -> None:
    key = make_key()
    assert code_of({**headers_for(key), "kc-api-passphrase": key.passphrase}, key) == "400004"


def test_a_signature_over_another_body_is_400005() -> None:
    key = make_key()
    assert code_of(headers_for(key), key, body='{"currency":"ETH"}') == "400005"


def test_a_non_ascii_signature_is_400005_not_a_server_error() -> None:
    # Header values arrive as raw bytes; a non-ASCII one must compare unequal, not raise.
    key = make_key()
    assert code_of({**headers_for(key), "kc-api-sign": "sign\u00e9"}, key) == "400005"


def test_a_non_ascii_passphrase_is_400004_not_a_server_error() -> None:
    key = make_key()
    assert code_of({**headers_for(key), "kc-api-passphrase": "pass\u00e9"}, key) == "400004"


def test_an_ip_outside_the_whitelist_is_400006_naming_the_ip() -> None:
    key = make_key(whitelist=("10.1.2.3",))
    with pytest.raises(errors.KucoinError) as caught:
        check(headers_for(key), key)
    assert caught.value.code == "400006"
    assert LOCAL_IP in caught.value.msg


def test_an_unparseable_client_ip_is_refused_when_a_whitelist_is_set() -> None:
    key = make_key(whitelist=("10.1.2.3",))
    assert code_of(headers_for(key), key, ip="not-an-ip") == "400006"


# -- the order of the checks -------------------------------------------------------------


def test_a_missing_header_is_reported_before_an_unknown_key() -> None:
    key = make_key()
    headers = {**headers_for(key), "kc-api-key": "nobody"}
    del headers["kc-api-sign"]
    assert code_of(headers, key) == "400001"


def test_an_unknown_key_is_reported_before_a_bad_timestamp() -> None:
    key = make_key()
    headers = {**headers_for(key), "kc-api-key": "nobody"}
    assert code_of(headers, key, now_ms=NOW_MS + 60_000) == "400003"


def test_a_bad_timestamp_is_reported_before_a_wrong_passphrase() -> None:
    key = make_key()
    assert code_of(headers_for(key, passphrase="wrong"), key, now_ms=NOW_MS + 60_000) == "400002"


def test_a_bad_signature_is_reported_before_a_wrong_passphrase() -> None:
    key = make_key()
    headers = headers_for(key, passphrase="wrong")
    assert code_of(headers, key, body="tampered") == "400005"


def test_a_wrong_secret_is_reported_as_a_bad_signature_not_a_wrong_passphrase() -> None:
    key = make_key()
    assert code_of(headers_for(key, secret="another-secret"), key) == "400005"


def test_a_bad_signature_is_reported_before_a_refused_ip() -> None:
    key = make_key(whitelist=("10.1.2.3",))
    assert code_of(headers_for(key), key, body="tampered") == "400005"


def test_everything_wrong_at_once_reports_the_missing_header() -> None:
    key = make_key(whitelist=("10.1.2.3",))
    headers = {
        "kc-api-key": "nobody",
        "kc-api-timestamp": "0",
        "kc-api-passphrase": "wrong",
    }
    assert code_of(headers, key, ip="192.0.2.1") == "400001"
