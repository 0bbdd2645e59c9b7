"""Talking to the exchange on a bot's behalf, starting with the preflight that clears its key.

A bot's key is the one thing that can move real money, so before a bot trades Bulkhead
asks KuCoin (or a twin) what the key can do and refuses anything beyond spot trading.
Import from the modules (``bulkhead.exchange.preflight``): this package itself imports
nothing. KuCoin's own facts (permission names, the ccxt URL overrides) are in
``bulkhead.kucoin``, shared with the twin.
"""
