"""Read a running bot's state from Freqtrade's own REST API (loopback, basic auth)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from bulkhead.config.workspace import BotPaths


@dataclass(frozen=True)
class BotSnapshot:
    reachable: bool
    state: str = "unknown"
    open_trades: int = 0
    committed: float = 0.0
    closed_trades: int = 0
    profit_closed: float = 0.0
    profit_all: float = 0.0
    error: str = ""


def _api(paths: BotPaths) -> tuple[str, tuple[str, str]] | None:
    if not paths.api_credentials.exists():
        return None
    stored: dict[str, Any] = json.loads(paths.api_credentials.read_text())
    return f"http://127.0.0.1:{stored['port']}/api/v1", (stored["username"], stored["password"])


def snapshot(paths: BotPaths, timeout_s: float = 3.0) -> BotSnapshot:
    """Open trades, stake committed and profit, or why they could not be read."""
    api = _api(paths)
    if api is None:
        return BotSnapshot(reachable=False, error="never rendered")
    base, auth = api
    try:
        with httpx.Client(base_url=base, auth=auth, timeout=timeout_s) as client:
            config = client.get("/show_config").raise_for_status().json()
            trades = client.get("/status").raise_for_status().json()
            profit = client.get("/profit").raise_for_status().json()
    except (httpx.HTTPError, ValueError) as error:
        return BotSnapshot(reachable=False, error=type(error).__name__)
    return BotSnapshot(
        reachable=True,
        state=str(config.get("state", "unknown")),
        open_trades=len(trades),
        committed=float(sum(t.get("stake_amount", 0.0) for t in trades)),
        closed_trades=int(profit.get("closed_trade_count", 0)),
        profit_closed=float(profit.get("profit_closed_coin", 0.0)),
        profit_all=float(profit.get("profit_all_coin", 0.0)),
    )


def is_trading(paths: BotPaths, timeout_s: float = 1.0) -> bool:
    """Whether Freqtrade's trading loop has run at least once (``/health``'s
    ``last_process``): its API answering alone proves little, since Freqtrade starts the
    API before the strategy's ``bot_start``, which may still crash."""
    api = _api(paths)
    if api is None:
        return False
    base, auth = api
    try:
        with httpx.Client(base_url=base, auth=auth, timeout=timeout_s) as client:
            health = client.get("/health").raise_for_status().json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(health, dict) and health.get("last_process") is not None


def reload_config(paths: BotPaths, timeout_s: float = 10.0) -> str:
    """Ask the running Freqtrade to reload its config and strategy (its open trades stay:
    they live in its database). What happened, in words; never raises."""
    api = _api(paths)
    if api is None:
        return "the bot was never started: takes effect at its start"
    base, auth = api
    try:
        with httpx.Client(base_url=base, auth=auth, timeout=timeout_s) as client:
            client.post("/reload_config").raise_for_status()
    except httpx.HTTPError as error:
        return f"the bot did not reload ({type(error).__name__}): takes effect at its next start"
    return "Freqtrade reloaded its config; open trades kept"
