"""The order gateway: key custody (``custody``), allowlist (``allowlist``), re-signing and
forwarding (``upstream``, ``app``, ``server``), the budget ledger (``ledger``, its pure
arithmetic in ``ledger_model``); trading states and audit to come."""
