"""A stop order Freqtrade does not know about is cancelled before Freqtrade starts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
import yaml

from bulkhead.config.loader import parse_fleet
from bulkhead.config.models import Bot
from bulkhead.fleet.orphans import cancel_orphan_stops, known_order_ids
from bulkhead.kucoin import ccxt_overrides
from bulkhead.sim.server import TwinServer, prepare

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def twin_client(tmp_path: Path) -> Iterator[tuple[Any, Bot]]:
    prepared = prepare(ROOT / "examples" / "sim.yaml", credentials_out=tmp_path / "c.json")
    key = next(c for c in prepared.credentials if c["name"] == "bot1-trade")
    with TwinServer(prepared.twin) as server:
        spec = yaml.safe_load((ROOT / "examples" / "bulkhead.yaml").read_text())
        spec["bots"][0]["exchange"] = {"target": server.url}
        bot = parse_fleet(spec).bots[0]
        client = ccxt.kucoin(
            {
                "apiKey": key["apiKey"],
                "secret": key["secret"],
                "password": key["passphrase"],
                **ccxt_overrides(server.url),
            }
        )
        client.create_order("XRP/USDT", "market", "buy", 20)
        yield client, bot


def place_stop(client: Any) -> str:
    price = client.fetch_ticker("XRP/USDT")["bid"] * 0.9
    order = client.create_order(
        "XRP/USDT",
        "market",
        "sell",
        10,
        None,
        {"stopPrice": client.price_to_precision("XRP/USDT", price), "stop": "loss"},
    )
    return str(order["id"])


def freqtrade_database(path: Path, order_ids: list[str]) -> Path:
    """Freqtrade's orders table, reduced to the column the check reads."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, order_id TEXT)")
        connection.executemany(
            "INSERT INTO orders (order_id) VALUES (?)", [(i,) for i in order_ids]
        )
    return path


def open_stop_ids(client: Any) -> set[str]:
    return {str(o["id"]) for o in client.fetch_open_orders("XRP/USDT", params={"stop": True})}


def test_a_stop_unknown_to_freqtrade_is_cancelled_and_a_known_one_kept(
    twin_client: tuple[Any, Bot], tmp_path: Path
):
    client, bot = twin_client
    known, orphan = place_stop(client), place_stop(client)
    database = freqtrade_database(tmp_path / "tradesv3.sqlite", [known])
    assert cancel_orphan_stops(bot, client, database) == [orphan]
    assert open_stop_ids(client) == {known}


def test_without_a_database_every_working_stop_is_an_orphan(
    twin_client: tuple[Any, Bot], tmp_path: Path
):
    client, bot = twin_client
    orphan = place_stop(client)
    assert known_order_ids(tmp_path / "missing.sqlite") == set()
    assert cancel_orphan_stops(bot, client, tmp_path / "missing.sqlite") == [orphan]
    assert open_stop_ids(client) == set()
