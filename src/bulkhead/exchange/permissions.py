"""KuCoin's API key permissions, named once for the preflight and the twin alike."""

from __future__ import annotations

#: KuCoin's permissions in the order its documentation lists them, for stable messages.
KUCOIN_PERMISSIONS = (
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
