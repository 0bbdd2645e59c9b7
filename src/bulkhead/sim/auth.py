"""Verify a private request exactly as KuCoin does, in KuCoin's order of checks.

The order matters to a client debugging its setup: a missing header is reported before an
unknown key, the key before the timestamp, the signature before the passphrase, and the
IP whitelist last, so each mistake (wrong secret, wrong passphrase, skewed clock, wrong
host) gets its own code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

from bulkhead.sim import errors
from bulkhead.sim.models import ApiKey

#: KuCoin refuses a request whose timestamp is further than this from server time.
TIMESTAMP_WINDOW_MS = 5000
REQUIRED_HEADERS = ("kc-api-key", "kc-api-sign", "kc-api-timestamp", "kc-api-passphrase")


def sign(secret: str, prehash: str) -> str:
    """base64(HMAC-SHA256(secret, prehash)): KuCoin's signature and v2/v3 passphrase."""
    digest = hmac.digest(secret.encode(), prehash.encode(), hashlib.sha256)
    return base64.b64encode(digest).decode()


@functools.lru_cache(maxsize=4096)
def _hashed_passphrase(secret: str, passphrase: str) -> str:
    """v2/v3 passphrases are fixed per key: hash once, not on every request."""
    return sign(secret, passphrase)


def prehash(timestamp: str, method: str, path_and_query: str, body: str) -> str:
    return f"{timestamp}{method.upper()}{path_and_query}{body}"


def expected_passphrase(key: ApiKey) -> str:
    return key.passphrase if key.version == 1 else sign(key.secret, key.passphrase)


def ip_allowed(key: ApiKey, client_ip: str) -> bool:
    if not key.ip_whitelist:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for entry in key.ip_whitelist:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def authenticate(
    headers: Mapping[str, str],
    keys: Mapping[str, ApiKey],
    method: str,
    path_and_query: str,
    body: str,
    now_ms: int,
    client_ip: str,
) -> ApiKey:
    """Return the key that signed this request, or raise the KuCoin error for what is wrong."""
    for name in REQUIRED_HEADERS:
        if not headers.get(name):
            raise errors.missing_header(name.upper())
    key = keys.get(headers["kc-api-key"])
    if key is None:
        raise errors.unknown_key()
    timestamp = headers["kc-api-timestamp"]
    try:
        skew = abs(int(timestamp) - now_ms)
    except ValueError:
        raise errors.invalid_timestamp() from None
    if skew > TIMESTAMP_WINDOW_MS:
        raise errors.invalid_timestamp()
    # The signature first: with v2/v3 the passphrase header is itself HMAC'd with the
    # secret, so a wrong secret would otherwise surface as a wrong passphrase.
    wanted_sign = sign(key.secret, prehash(timestamp, method, path_and_query, body))
    if not hmac.compare_digest(headers["kc-api-sign"], wanted_sign):
        raise errors.bad_signature()
    version = headers.get("kc-api-key-version", "1")
    # A v1 key may still be sent as v2 by a client: KuCoin judges by what the client says.
    given_passphrase = headers["kc-api-passphrase"]
    wanted = key.passphrase if version == "1" else _hashed_passphrase(key.secret, key.passphrase)
    if not hmac.compare_digest(given_passphrase, wanted):
        raise errors.wrong_passphrase()
    if not ip_allowed(key, client_ip):
        raise errors.ip_refused(client_ip)
    return key
