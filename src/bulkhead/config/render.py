"""Moved: the rendered Freqtrade config is the adapter's (``bulkhead.freqtrade.config``),
a bot's credentials the spec's (``bulkhead.config.credentials``).

Kept only until the supervisor imports them from there; config must not import the
adapter (the import-graph test names this module until it goes).
"""

from __future__ import annotations

from bulkhead.config.credentials import CREDENTIAL_PARTS, resolve_credentials
from bulkhead.freqtrade.config import (
    render_freqtrade_config,
    secret_environment,
    write_private,
)

__all__ = [
    "CREDENTIAL_PARTS",
    "render_freqtrade_config",
    "resolve_credentials",
    "secret_environment",
    "write_private",
]
