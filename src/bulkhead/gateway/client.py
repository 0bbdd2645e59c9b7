"""How a bot's ccxt (and Freqtrade's ``exchange.ccxt_config``) is pointed at the gateway.

The twin serves every KuCoin host at one URL (``bulkhead.kucoin.ccxt_overrides``), but the
gateway must not: KuCoin's futures host has its own ``POST /api/v1/orders``, which at one
URL would look exactly like a spot order and be forwarded to the spot upstream. So only
the spot hosts (``public``, ``private``) point at the gateway itself; every other host
ccxt knows (futures, broker, earn, unified account, web) points at a path under
``/refused/`` that no allowlist rule matches, so whatever ccxt sends there is refused with
400007 and never forwarded.
"""

from __future__ import annotations

from typing import Any

from bulkhead.kucoin import API_NAMES, ccxt_overrides

#: ccxt's names for KuCoin's spot hosts: the only ones a spot bot is served on
SPOT_API_NAMES = ("public", "private")
#: where every other host points, under the gateway's URL
REFUSED_PREFIX = "/refused"


def ccxt_config(gateway_url: str) -> dict[str, Any]:
    """``ccxt_overrides`` for a bot behind the gateway: spot hosts served, others refused."""
    base = gateway_url.rstrip("/")
    config = ccxt_overrides(base)
    config["urls"]["api"] = {
        name: base if name in SPOT_API_NAMES else f"{base}{REFUSED_PREFIX}/{name}"
        for name in API_NAMES
    }
    return config
