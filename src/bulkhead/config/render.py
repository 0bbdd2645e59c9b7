"""Render a bot's complete Freqtrade config from its spec: configure Freqtrade, never redo it.

The budget becomes ``available_capital`` and equal stake slices, so Freqtrade itself
never sizes past it; protections travel in a ``bulkhead`` section that the bundled
strategies hand to Freqtrade. Files holding secrets are written 0600.
"""

from __future__ import annotations

import json
import os
import secrets as token_source
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths
from bulkhead.sim.client import ccxt_overrides
from bulkhead.strategy import STRATEGY_DIR

CREDENTIAL_PARTS = ("api_key", "secret", "passphrase")


def resolve_credentials(
    bot: Bot, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> dict[str, SecretStr]:
    """The bot's key, secret and passphrase from their references (env or files)."""
    refs = bot.credentials
    return {part: getattr(refs, part).resolve(environ, base_dir) for part in CREDENTIAL_PARTS}


def write_private(path: Path, document: Any) -> None:
    """Write JSON readable by the owner only, replacing the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        "port": _free_port(),
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


def log_config(bot: Bot, paths: BotPaths, redact: list[str]) -> dict[str, Any]:
    """Freqtrade's own logging, as JSON lines through Bulkhead's redacting formatter."""
    formatter = {"()": "bulkhead.logs.JsonFormatter", "bot": bot.name, "secrets": redact}
    return {
        "version": 1,
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


def render_freqtrade_config(
    bot: Bot, paths: BotPaths, credentials: Mapping[str, SecretStr]
) -> dict[str, Any]:
    """The complete Freqtrade config for one bot (secrets included: write it with 0600)."""
    api = api_credentials(paths)
    key, secret, passphrase = (
        credentials[n].get_secret_value() for n in ("api_key", "secret", "passphrase")
    )
    exchange: dict[str, Any] = {
        "name": "kucoin",
        "key": key,
        "secret": secret,
        "password": passphrase,
        "pair_whitelist": list(bot.pairs),
        "pair_blacklist": [],
    }
    if bot.exchange.is_twin:
        overrides = ccxt_overrides(bot.exchange.twin_url)
        exchange.update(
            {"enable_ws": False, "ccxt_config": overrides, "ccxt_async_config": overrides}
        )
    redact = [key, secret, passphrase, api["password"], api["jwt_secret_key"], api["ws_token"]]
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
        "fiat_display_currency": "",
        "timeframe": bot.timeframe,
        "stoploss": bot.stoploss,
        "strategy": bot.strategy.name,
        "strategy_path": str(STRATEGY_DIR),
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
            "jwt_secret_key": api["jwt_secret_key"],
            "ws_token": api["ws_token"],
            "CORS_origins": [],
            "username": api["username"],
            "password": api["password"],
        },
        "internals": {"process_throttle_secs": 5, "heartbeat_interval": 300},
        "log_config": log_config(bot, paths, redact),
        "bulkhead": {
            "bot": bot.name,
            "budget": str(bot.budget.amount),
            "protections": protections(bot),
            "strategy_params": bot.strategy.params,
        },
    }
