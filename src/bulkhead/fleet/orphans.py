"""Cancel stop orders on the exchange that the bot's Freqtrade does not know about.

If Freqtrade dies after KuCoin accepted its stop-loss order but before saving it, the
restarted Freqtrade has no record of it: the stop stays on the exchange and could later
sell a newer position. The sub-account belongs to the bot alone, so before every start of
Freqtrade the supervisor cancels any working stop order missing from its database.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bulkhead.config.models import Bot
from bulkhead.logs import event

logger = logging.getLogger("bulkhead.supervisor")


def known_order_ids(database: Path) -> set[str]:
    """Every order id Freqtrade's database holds (none when it does not exist yet)."""
    if not database.exists():
        return set()
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        try:
            rows = connection.execute("SELECT order_id FROM orders").fetchall()
        except sqlite3.OperationalError:  # created, but Freqtrade never wrote its tables
            return set()
    return {str(row[0]) for row in rows}


def cancel_orphan_stops(bot: Bot, client: Any, database: Path) -> list[str]:
    """Cancel the bot's working stop orders unknown to Freqtrade; their ids."""
    known = known_order_ids(database)
    cancelled = []
    for pair in bot.pairs:
        for order in client.fetch_open_orders(pair, params={"stop": True}):
            if str(order["id"]) in known:
                continue
            client.cancel_order(order["id"], pair, params={"stop": True})
            cancelled.append(str(order["id"]))
            event(
                logger,
                "orphan_stop_cancelled",
                logging.WARNING,
                pair=pair,
                order_id=order["id"],
                reason="not in Freqtrade's database",
            )
    return cancelled


def cleanup_before_start(bot: Bot, client: Callable[[], Any], database: Path) -> None:
    """Best effort: an exchange error here is logged and never blocks the start.

    ``client`` makes the ccxt client: the bot's gateway credential, pointed at the gateway
    (stop orders are on its allowlist)."""
    try:
        cancel_orphan_stops(bot, client(), database)
    except Exception as error:  # the exchange may be down; Freqtrade will retry its own way
        event(
            logger,
            "orphan_check_failed",
            logging.WARNING,
            error=type(error).__name__,
            detail=str(error)[:200],
        )
