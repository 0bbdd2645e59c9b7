"""Point a real ccxt KuCoin client at a twin: ``ccxt_overrides(url)``.

The overrides are a KuCoin fact the product shares, so they live in ``bulkhead.kucoin``;
this name stays for scripts written against it.
"""

from __future__ import annotations

from bulkhead.kucoin import API_NAMES, ccxt_overrides

__all__ = ["API_NAMES", "ccxt_overrides"]
