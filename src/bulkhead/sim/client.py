"""Point a real ccxt KuCoin client at a twin: the one place that knows which URLs to bend."""

from __future__ import annotations

from typing import Any

API_NAMES = (
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
    """ccxt (and Freqtrade's ``exchange.ccxt_config``) settings that talk to the twin.

    ``uta: False`` and spot-only market types skip the unified-account probe and the
    futures host, which a spot bot never needs.
    """
    return {
        "urls": {"api": dict.fromkeys(API_NAMES, base_url)},
        "options": {"uta": False, "fetchMarkets": {"types": ["spot"]}},
    }
