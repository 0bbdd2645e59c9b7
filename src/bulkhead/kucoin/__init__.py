"""KuCoin facts that the product and the twin (``bulkhead.sim``) both rely on, named once.

A leaf: it imports nothing from Bulkhead, so the twin can share it without loading the
product, and the product can point ccxt at a twin without importing the twin. Besides the
facts here, it holds what both ends of KuCoin's API need, written once: ``signing``
(KuCoin's HMAC signature and passphrase, verified by the twin and the gateway, made by the
gateway), ``envelope`` (the ``{"code", "msg"}`` error envelope and KuCoin's codes),
``http`` (the bounded ASGI request layer), ``protocol`` (uvicorn's HTTP parser with
bounded heads and KuCoin-shaped refusals) and ``limits`` (the request bounds).
"""

from __future__ import annotations

from typing import Any

#: KuCoin's API key permissions, in the order its documentation lists them (stable messages).
PERMISSIONS: tuple[str, ...] = (
    "General",
    "Spot",
    "Margin",
    "Futures",
    "InnerTransfer",
    "Transfer",
    "FlexTransfers",
    "Earn",
    "Withdrawal",
)
#: What KuCoin lets a sub-account key carry (a master key may carry any of PERMISSIONS).
SUB_ACCOUNT_PERMISSIONS = frozenset({"General", "Spot", "Futures", "Margin", "InnerTransfer"})

#: ccxt's names for KuCoin's API hosts; a twin serves all of them at one URL.
API_NAMES: tuple[str, ...] = (
    "public",
    "private",
    "futuresPublic",
    "futuresPrivate",
    "broker",
    "earn",
    "uta",
    "utaV2",
    "utaPrivate",
    "webExchange",
)


def ccxt_overrides(base_url: str) -> dict[str, Any]:
    """ccxt (and Freqtrade's ``exchange.ccxt_config``) settings that talk to a twin.

    ``uta: False`` and spot-only market types skip the unified-account probe and the
    futures host, which a spot bot never needs.
    """
    return {
        "urls": {"api": dict.fromkeys(API_NAMES, base_url)},
        "options": {"uta": False, "fetchMarkets": {"types": ["spot"]}},
    }
