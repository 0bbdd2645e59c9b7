"""Every bound the twin puts on what a client can send it or make it remember, in one place.

The twin is a long-lived process that a whole fleet, the test suite and whatever runs on
the machine can reach. Without bounds, one client could grow it without end: a 10 MB body
kept in the refused-transfer log, a flood of bad signatures each leaving a record, a
header that never ends. Each bound here is well above anything KuCoin or ccxt sends, and
each refusal still answers in KuCoin's envelope (see ``errors.request_too_large``).
"""

from __future__ import annotations

from decimal import Decimal

# What a request may carry (body, URL, head, headers): shared with the order gateway.
from bulkhead.kucoin.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_HEADERS, MAX_URL_BYTES

__all__ = ["MAX_BODY_BYTES", "MAX_HEADERS", "MAX_HEAD_BYTES", "MAX_URL_BYTES"]

#: A number as text: KuCoin amounts and prices are a few dozen characters at most.
MAX_NUMBER_CHARS = 64
#: Amounts, prices and sizes must stay below this: well past any real market, and small
#: enough that checking a value against its increment stays exact in Decimal's 28 digits.
MAX_AMOUNT = Decimal("1e15")
#: ... and, when not zero, at least this: no market trades finer, and far smaller values
#: would underflow Decimal's exponent range and round to zero in the increment check.
MIN_AMOUNT = Decimal("1e-18")

#: How far market time may run ahead of the wall clock (``/sim/v1/clock/advance``): price
#: paths are generated up to market time, some 80 bytes per base candle per symbol.
MAX_CLOCK_OFFSET_S = 366 * 86400
#: Base candles of history a synthetic price source may generate at start.
MAX_HISTORY_CANDLES = 1_000_000

#: KuCoin's own field limits, for strings the twin would otherwise keep forever.
MAX_CLIENT_OID_CHARS = 40
MAX_ORDER_REMARK_CHARS = 20
MAX_ORDER_TAGS_CHARS = 20
MAX_SUB_NAME_CHARS = 32
MAX_REMARK_CHARS = 24
MAX_PASSPHRASE_CHARS = 32

#: Refused fund movements and refused private requests are kept as a ring of the latest
#: ones: an audit trail, not a place where a hostile client can park memory.
MAX_REFUSED_MOVEMENTS = 1000
MAX_AUTH_REFUSALS = 1000
#: What a recorded request keeps of its body: this many fields, each name and value cut.
MAX_RECORDED_FIELDS = 16
MAX_RECORDED_NAME_CHARS = 40
MAX_RECORDED_VALUE_CHARS = 64
#: What an auth refusal keeps of the path and the key id the client sent.
MAX_RECORDED_PATH_CHARS = 128
MAX_RECORDED_KEY_CHARS = 64
