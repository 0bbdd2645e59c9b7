"""uvicorn's httptools protocol with bounded request heads and KuCoin-shaped refusals: the
twin's, shared with the order gateway (``bulkhead.kucoin.protocol``)."""

from __future__ import annotations

from bulkhead.kucoin.protocol import KucoinHttpProtocol

__all__ = ["KucoinHttpProtocol"]
