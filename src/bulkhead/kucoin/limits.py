"""How much of a request a KuCoin-speaking server (the twin, the order gateway) will read.

Each bound is well above anything KuCoin or ccxt sends, and a request over one is refused
in KuCoin's envelope (``envelope.request_too_large``), before it is held in memory.
"""

from __future__ import annotations

#: A request body. KuCoin's largest spot request (a batch of 20 orders) is a few KB.
MAX_BODY_BYTES = 64 * 1024
#: The request target (path and query). Like nginx's default request-line buffer.
MAX_URL_BYTES = 8 * 1024
#: The request line and every header together. Like nginx's default 4 x 8 KB buffers.
MAX_HEAD_BYTES = 32 * 1024
#: How many headers one request may carry (ccxt sends about a dozen).
MAX_HEADERS = 100
