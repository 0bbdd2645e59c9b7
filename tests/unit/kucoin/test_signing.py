"""KuCoin's signature both ways: what a client signs is what a server verifies, one code path."""

from __future__ import annotations

from dataclasses import dataclass

import ccxt
import pytest

from bulkhead.kucoin import envelope
from bulkhead.kucoin.signing import TIMESTAMP_WINDOW_MS, sign, signed_headers, verify

SECRET = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3"
PASSPHRASE = "correct horse"
NOW_MS = 1_547_015_186_532


@dataclass(frozen=True)
class Key:
    secret: str
    passphrase: str


KEYS = {"key-1": Key(SECRET, PASSPHRASE)}


def _headers(
    method: str = "POST",
    target: bytes = b"/api/v1/orders",
    body: bytes = b'{"size":"1"}',
    *,
    secret: str = SECRET,
    passphrase: str = PASSPHRASE,
    version: str = "2",
    timestamp_ms: int = NOW_MS,
) -> dict[bytes, bytes]:
    signed = signed_headers(
        "key-1", secret, passphrase, method, target, body, timestamp_ms, version=version
    )
    return dict(signed)


def test_sign_matches_kucoins_published_test_vector():
    prehash = '1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}'
    assert sign(SECRET, prehash) == "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="


@pytest.mark.parametrize("version", ["1", "2", "3"])
def test_what_signed_headers_signs_verify_accepts(version: str):
    headers = _headers(version=version)
    key = verify(headers, KEYS, "POST", b"/api/v1/orders", b'{"size":"1"}', NOW_MS)
    assert key is KEYS["key-1"]


def test_signed_headers_match_what_ccxt_sends():
    exchange = ccxt.kucoin({"apiKey": "key-1", "secret": SECRET, "password": PASSPHRASE})
    exchange.nonce = lambda: NOW_MS
    sent = exchange.sign("orders", ["private"], "POST", {"symbol": "XRP-USDT", "size": "1"})
    ours = _headers(target=b"/api/v1/orders", body=sent["body"].encode())
    for name in ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE"):
        assert ours[name.lower().encode()].decode() == sent["headers"][name], name


def test_a_target_with_escapes_is_signed_decoded_on_both_ends():
    headers = _headers("GET", b"/api/v1/fills?symbol=XRP%2DUSDT", b"")
    assert verify(headers, KEYS, "GET", b"/api/v1/fills?symbol=XRP-USDT", b"", NOW_MS)
    assert verify(headers, KEYS, "GET", b"/api/v1/fills?symbol=XRP%2DUSDT", b"", NOW_MS)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (_headers(secret="wrong secret"), "400005"),
        (_headers(passphrase="wrong passphrase"), "400004"),
        (_headers(timestamp_ms=NOW_MS - TIMESTAMP_WINDOW_MS - 1), "400002"),
        ({**_headers(), b"kc-api-key": b"nobody"}, "400003"),
        ({k: v for k, v in _headers().items() if k != b"kc-api-sign"}, "400001"),
    ],
    ids=["secret", "passphrase", "timestamp", "key", "missing"],
)
def test_each_mistake_gets_kucoins_own_code(headers: dict[bytes, bytes], code: str):
    with pytest.raises(envelope.KucoinError) as refused:
        verify(headers, KEYS, "POST", b"/api/v1/orders", b'{"size":"1"}', NOW_MS)
    assert refused.value.code == code


def test_a_body_changed_after_signing_is_a_bad_signature():
    with pytest.raises(envelope.KucoinError) as refused:
        verify(_headers(), KEYS, "POST", b"/api/v1/orders", b'{"size":"100"}', NOW_MS)
    assert refused.value.code == "400005"
