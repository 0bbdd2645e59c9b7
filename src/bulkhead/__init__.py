"""Bulkhead: Freqtrade bots on KuCoin, each in its own compartment."""

__version__ = "0.1.0"
