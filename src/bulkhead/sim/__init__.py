"""The KuCoin twin: a local KuCoin spot exchange that real ccxt and Freqtrade trade against."""
