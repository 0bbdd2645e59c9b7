"""The order gateway: key custody, allowlist, re-signing, ledger, trading states, audit."""
