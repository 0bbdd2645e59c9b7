"""A Freqtrade config for a live bot on the twin: for tests and demos, not production.

The production renderer (one bot per sub-account, secrets from a store) comes later; this
helper only knows what Freqtrade needs to trade against a twin on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulkhead.sim.client import ccxt_overrides


def twin_freqtrade_config(
    *,
    twin_url: str,
    api_key: str,
    secret: str,
    passphrase: str,
    pairs: list[str],
    user_data_dir: Path,
    db_url: str,
    strategy: str,
    strategy_path: Path,
    stake_currency: str = "USDT",
    stake_amount: float | str = 20,
    max_open_trades: int = 1,
    dry_run: bool = False,
    timeframe: str = "1m",
    stoploss_on_exchange: bool = True,
) -> dict[str, Any]:
    """Everything Freqtrade needs to trade ``pairs`` on the twin at ``twin_url``.

    Market orders with ``price_side: other`` fill at once; websockets are off (the twin
    speaks REST only); telegram and the REST API server are off.
    """
    overrides = ccxt_overrides(twin_url)
    return {
        "bot_name": f"twin-{strategy}",
        "dry_run": dry_run,
        "dry_run_wallet": 1000,
        "trading_mode": "spot",
        "margin_mode": "",
        "max_open_trades": max_open_trades,
        "stake_currency": stake_currency,
        "stake_amount": stake_amount,
        "tradable_balance_ratio": 0.99,
        "fiat_display_currency": "",
        "timeframe": timeframe,
        "strategy": strategy,
        "strategy_path": str(strategy_path),
        "user_data_dir": str(user_data_dir),
        "datadir": str(user_data_dir / "data" / "kucoin"),
        "db_url": db_url,
        "initial_state": "running",
        "force_entry_enable": True,
        "cancel_open_orders_on_exit": False,
        "unfilledtimeout": {"entry": 1, "exit": 1, "exit_timeout_count": 0, "unit": "minutes"},
        "order_types": {
            "entry": "market",
            "exit": "market",
            "emergency_exit": "market",
            "force_entry": "market",
            "force_exit": "market",
            "stoploss": "market",
            "stoploss_on_exchange": stoploss_on_exchange,
            "stoploss_on_exchange_interval": 60,
        },
        "order_time_in_force": {"entry": "GTC", "exit": "GTC"},
        "entry_pricing": {
            "price_side": "other",
            "use_order_book": True,
            "order_book_top": 1,
            "price_last_balance": 0.0,
            "check_depth_of_market": {"enabled": False, "bids_to_ask_delta": 1},
        },
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exchange": {
            "name": "kucoin",
            "key": api_key,
            "secret": secret,
            "password": passphrase,
            "enable_ws": False,
            "ccxt_config": overrides,
            "ccxt_async_config": overrides,
            "pair_whitelist": list(pairs),
            "pair_blacklist": [],
        },
        "pairlists": [{"method": "StaticPairList"}],
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
        "internals": {"process_throttle_secs": 2, "heartbeat_interval": 60},
    }
