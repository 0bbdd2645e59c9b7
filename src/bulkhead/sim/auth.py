"""Verify a private request exactly as KuCoin does, in KuCoin's order of checks.

The signature, timestamp and passphrase checks are KuCoin's own, shared with the order
gateway (``bulkhead.kucoin.signing``); the twin adds the key's IP whitelist, checked last,
so each mistake (wrong secret, wrong passphrase, skewed clock, wrong host) gets its own code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from bulkhead.kucoin.signing import (
    REQUIRED_HEADERS,
    TIMESTAMP_WINDOW_MS,
    _signature,
    prehash,
    sign,
    verify,
)
from bulkhead.sim import errors
from bulkhead.sim.models import ApiKey

__all__ = [
    "REQUIRED_HEADERS",
    "TIMESTAMP_WINDOW_MS",
    "_signature",
    "authenticate",
    "ip_allowed",
    "prehash",
    "sign",
]


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
    headers: Mapping[bytes, bytes],
    keys: Mapping[str, ApiKey],
    method: str,
    target: bytes,
    body: bytes,
    now_ms: int,
    client_ip: str,
) -> ApiKey:
    """Return the key that signed this request, or raise the KuCoin error for what is wrong.

    KuCoin's checks (``kucoin.signing.verify``: headers, key, timestamp, signature,
    passphrase), then the key's IP whitelist.
    """
    key = verify(headers, keys, method, target, body, now_ms)
    if key.ip_whitelist and not ip_allowed(key, client_ip):
        raise errors.ip_refused(client_ip)
    return key
