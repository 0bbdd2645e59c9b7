"""A bot's Freqtrade config rendered from its spec: configure Freqtrade, never redo it.

The budget becomes ``available_capital`` and equal stake slices, so Freqtrade itself
never sizes past it; protections travel in a ``bulkhead`` section that Bulkhead's layer
hands to Freqtrade. Which strategy runs is not decided here: ``stack.Stack.render`` adds
it (``strategy``, ``strategy_path``) over this config. Files holding secrets are written
0600.
"""

from __future__ import annotations

import json
import os
import secrets as token_source
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bulkhead.config.models import Bot
from bulkhead.config.secrets import SecretResolutionError
from bulkhead.config.workspace import BotPaths
from bulkhead.kucoin import ccxt_overrides
from bulkhead.plumbing import free_port
from bulkhead.plumbing import write_private as write_private_file

PORT_ENV = "FREQTRADE__API_SERVER__LISTEN_PORT"


def write_private(path: Path, document: Any) -> None:
    """``document`` as JSON, readable by the owner only, replacing the file atomically
    (``bulkhead.plumbing.write_private``). It is serialised first, so a value JSON cannot
    hold leaves the old file as it was and nothing else behind."""
    write_private_file(path, json.dumps(document, indent=2, allow_nan=False))


def api_credentials(paths: BotPaths) -> dict[str, Any]:
    """The bot's REST API login, generated once and kept (0600) so restarts keep it."""
    if paths.api_credentials.exists():
        stored: dict[str, Any] = json.loads(paths.api_credentials.read_text())
        return stored
    created = {
        "username": "bulkhead",
        "password": token_source.token_urlsafe(24),
        "jwt_secret_key": token_source.token_hex(32),
        "ws_token": token_source.token_urlsafe(24),
        # In a container Compose fixes the port (FREQTRADE__API_SERVER__LISTEN_PORT).
        "port": int(os.environ.get(PORT_ENV) or free_port()),
    }
    write_private(paths.api_credentials, created)
    return created


def protections(bot: Bot) -> list[dict[str, Any]]:
    """Freqtrade's protection entries for the ones the spec enables."""
    spec = bot.protections
    found: list[dict[str, Any]] = []
    if spec.stoploss_guard.enabled:
        found.append(
            {
                "method": "StoplossGuard",
                "only_per_pair": False,
                **spec.stoploss_guard.model_dump(exclude={"enabled"}),
            }
        )
    if spec.max_drawdown.enabled:
        found.append({"method": "MaxDrawdown", **spec.max_drawdown.model_dump(exclude={"enabled"})})
    if spec.cooldown_period.enabled:
        found.append(
            {"method": "CooldownPeriod", **spec.cooldown_period.model_dump(exclude={"enabled"})}
        )
    if spec.low_profit_pairs.enabled:
        found.append(
            {"method": "LowProfitPairs", **spec.low_profit_pairs.model_dump(exclude={"enabled"})}
        )
    return found


def log_config(bot: Bot, paths: BotPaths) -> dict[str, Any]:
    """Freqtrade's own logging, as JSON lines through Bulkhead's redacting formatter.

    The formatter learns the secrets to redact from the environment variables that carry
    them, so not even this file names them. Loggers that exist already stay on: Freqtrade
    applies this again at every ``reload_config``, and dictConfig's default would silence
    Bulkhead's own (the guard, the recorder, the layer) from then on.
    """
    formatter = {
        "()": "bulkhead.logs.JsonFormatter",
        "bot": bot.name,
        "secret_env": sorted(SECRET_ENV.values()),
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
            "file": {
                "class": "logging.handlers.RotatingFileHandler",
                "formatter": "json",
                "filename": str(paths.freqtrade_log),
                "maxBytes": 10 * 1024 * 1024,
                "backupCount": 5,
            },
        },
        "root": {"level": "INFO", "handlers": ["console", "file"]},
    }


#: where each secret travels to Freqtrade: its own FREQTRADE__SECTION__KEY variables
SECRET_ENV = {
    "api_key": "FREQTRADE__EXCHANGE__KEY",
    "secret": "FREQTRADE__EXCHANGE__SECRET",
    "passphrase": "FREQTRADE__EXCHANGE__PASSWORD",
    "api_password": "FREQTRADE__API_SERVER__PASSWORD",
    "jwt_secret_key": "FREQTRADE__API_SERVER__JWT_SECRET_KEY",
    "ws_token": "FREQTRADE__API_SERVER__WS_TOKEN",
}


def secret_environment(paths: BotPaths, credentials: Mapping[str, SecretStr]) -> dict[str, str]:
    """The secrets as environment variables for the Freqtrade child, never as a file."""
    api = api_credentials(paths)
    values = {
        "api_key": credentials["api_key"].get_secret_value(),
        "secret": credentials["secret"].get_secret_value(),
        "passphrase": credentials["passphrase"].get_secret_value(),
        "api_password": api["password"],
        "jwt_secret_key": api["jwt_secret_key"],
        "ws_token": api["ws_token"],
    }
    for name, value in values.items():
        if _freqtrade_would_retype(value):
            raise SecretResolutionError(
                f"{name} looks like a number and would be mangled by Freqtrade"
            )
    return {SECRET_ENV[name]: value for name, value in values.items()}


def _freqtrade_would_retype(value: str) -> bool:
    """Freqtrade turns numeric-looking environment values into numbers (not PASSWORD)."""
    try:
        float(value)
    except ValueError:
        return value.lower() in ("t", "true", "f", "false")
    return True


def render_freqtrade_config(bot: Bot, paths: BotPaths) -> dict[str, Any]:
    """The Freqtrade config for one bot, minus its secrets (see secret_environment) and its
    strategy (see ``stack.Stack.render``).

    Written 0600 all the same: it says where the bot trades and how its API is reached.
    """
    api = api_credentials(paths)
    exchange: dict[str, Any] = {
        "name": "kucoin",
        "key": "",
        "secret": "",
        "password": "",
        "pair_whitelist": list(bot.pairs),
        "pair_blacklist": [],
    }
    if bot.exchange.is_twin:
        overrides = ccxt_overrides(bot.exchange.twin_url)
        exchange.update(
            {"enable_ws": False, "ccxt_config": overrides, "ccxt_async_config": overrides}
        )
    return {
        "bot_name": bot.name,
        "dry_run": bot.mode == "dry_run",
        "dry_run_wallet": float(bot.budget.amount),
        "trading_mode": "spot",
        "margin_mode": "",
        "max_open_trades": bot.max_open_trades,
        "stake_currency": bot.budget.currency,
        "stake_amount": float(bot.stake_per_trade),
        "available_capital": float(bot.budget.amount),
        "tradable_balance_ratio": 1.0,
        # After a loss the budget left is under a full stake: enter with what is left
        # (never more; nothing under half a stake) instead of never entering again.
        "amend_last_stake_amount": True,
        "last_stake_amount_min_ratio": 0.5,
        "fiat_display_currency": "",
        "timeframe": bot.timeframe,
        "stoploss": bot.stoploss,
        "user_data_dir": str(paths.user_data),
        "datadir": str(paths.user_data / "data" / "kucoin"),
        "db_url": f"sqlite:///{paths.database}",
        "initial_state": "running",
        "cancel_open_orders_on_exit": False,
        "unfilledtimeout": {"entry": 2, "exit": 2, "exit_timeout_count": 0, "unit": "minutes"},
        "order_types": {
            "entry": "market",
            "exit": "market",
            "emergency_exit": "market",
            "force_entry": "market",
            "force_exit": "market",
            "stoploss": "market",
            "stoploss_on_exchange": True,
            "stoploss_on_exchange_interval": 60,
        },
        "order_time_in_force": {"entry": "GTC", "exit": "GTC"},
        "entry_pricing": {
            "price_side": "other",
            "use_order_book": True,
            "order_book_top": 1,
            "check_depth_of_market": {"enabled": False, "bids_to_ask_delta": 1},
        },
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exchange": exchange,
        "pairlists": [{"method": "StaticPairList"}],
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": api["port"],
            "verbosity": "error",
            "enable_openapi": False,
            "jwt_secret_key": "",
            "ws_token": "",
            "CORS_origins": [],
            "username": api["username"],
            "password": "",
        },
        "internals": {"process_throttle_secs": 5, "heartbeat_interval": 300},
        "log_config": log_config(bot, paths),
        "bulkhead": {
            "bot": bot.name,
            "budget": str(bot.budget.amount),
            "protections": protections(bot),
        },
    }
