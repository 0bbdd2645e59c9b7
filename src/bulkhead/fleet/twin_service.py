"""The ``twin`` service of a fleet's Compose project: the KuCoin twin, for a rehearsal.

With ``twin=TwinService(...)`` a ``twin`` service runs the KuCoin twin (``bulkhead sim
serve``) from the same image, with the same walls, so a fleet whose bots target
``http://twin:8899`` rehearses in containers before it is pointed at KuCoin. It sits on
the ``exchange`` network with the gateway alone: the bots trade on it through the
gateway, as they would on KuCoin, and cannot reach it themselves. Its scenario is
bind-mounted read-only; its state (balances, orders, keys) and the key credentials it
creates (``/data/credentials.json``, 0600) live in its ``twin-data`` volume, so they
survive ``down``/``up``. It publishes no port; its admin API answers only inside its
container (``docker compose exec twin ...``). The gateway waits for it to be healthy.
``twin_scenario`` drafts a first scenario from the fleet itself.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bulkhead.config.models import Bot, Fleet
from bulkhead.fleet.containers import BOT_USER, hardening, logging_options

TWIN_SERVICE = "twin"
TWIN_PORT = 8899
TWIN_VOLUME = "twin-data"
#: the twin's volume: Dockerfile creates it as ftuser's so the non-root twin can write
TWIN_DATA_IN_CONTAINER = "/data"
TWIN_SCENARIO_IN_CONTAINER = "/config/sim.yaml"
TWIN_STATE_IN_CONTAINER = f"{TWIN_DATA_IN_CONTAINER}/twin.json"
#: the credentials of the keys the scenario creates (0600, the twin's user only)
TWIN_CREDENTIALS_IN_CONTAINER = f"{TWIN_DATA_IN_CONTAINER}/credentials.json"
TWIN_LIMITS = {"cpus": 0.5, "memory": "512m"}
TWIN_PING_COMMAND = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{TWIN_PORT}/api/v1/timestamp', timeout=5)"
)


@dataclass(frozen=True)
class TwinService:
    """The KuCoin twin as a service of the project: its scenario's path on the host,
    relative to the compose file (replay sources need files the container cannot see:
    use synthetic prices, or mount the recordings yourself)."""

    scenario: str = "./sim.yaml"

    @property
    def url(self) -> str:
        """What a bot's ``exchange.target`` says to trade on this twin."""
        return f"http://{TWIN_SERVICE}:{TWIN_PORT}"


def targets_twin(bot: Bot) -> bool:
    """Whether ``bot`` trades on the project's twin service (``http://twin:8899``)."""
    if not bot.exchange.is_twin:
        return False
    parts = urlsplit(bot.exchange.twin_url)
    return parts.hostname == TWIN_SERVICE and (parts.port or 80) == TWIN_PORT


def targets_loopback_twin(bot: Bot) -> bool:
    """Whether ``bot`` trades on a twin at a loopback address (in a container: itself)."""
    if not bot.exchange.is_twin:
        return False
    host = urlsplit(bot.exchange.twin_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def twin_service(twin: TwinService, networks: list[str], image: str) -> dict[str, Any]:
    return {
        "image": image,
        "command": [
            "sim",
            "serve",
            "--scenario",
            TWIN_SCENARIO_IN_CONTAINER,
            "--host",
            "0.0.0.0",  # noqa: S104 - inside the container; no port is published
            "--port",
            str(TWIN_PORT),
            "--state",
            TWIN_STATE_IN_CONTAINER,
            "--credentials-out",
            TWIN_CREDENTIALS_IN_CONTAINER,
        ],
        "user": BOT_USER,
        "init": True,
        **hardening(),
        # The twin saves its state on SIGTERM.
        "stop_grace_period": "20s",
        "deploy": {"resources": {"limits": dict(TWIN_LIMITS)}},
        "volumes": [
            {
                "type": "bind",
                "source": twin.scenario,
                "target": TWIN_SCENARIO_IN_CONTAINER,
                "read_only": True,
                "bind": {"create_host_path": False},
            },
            {"type": "volume", "source": TWIN_VOLUME, "target": TWIN_DATA_IN_CONTAINER},
        ],
        "tmpfs": ["/tmp:size=64m"],  # noqa: S108 - a private tmpfs, not the host's /tmp
        "networks": networks,
        "healthcheck": {
            "test": ["CMD", "python", "-c", TWIN_PING_COMMAND],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "60s",
        },
        "logging": logging_options(),
    }


#: what a generated scenario funds the master with, per stake currency
TWIN_MASTER_FUNDS = 10_000
#: a sub-account gets this many times its bots' budgets: round trips lose their fees
TWIN_FUNDING_FACTOR = 2
#: rough price levels for generated synthetic markets (any positive price trades the same)
TWIN_START_PRICES = {
    "BTC": 60_000.0,
    "ETH": 3_000.0,
    "SOL": 150.0,
    "XRP": 0.5,
    "ADA": 0.4,
    "DOGE": 0.15,
}
SCENARIO_HEADER = (
    "# drafted by bulkhead compose --twin from bulkhead.yaml; edit freely, it is not rewritten.\n"
    "# Prices are synthetic: the twin's container sees this file alone (no recordings).\n"
)


def twin_scenario(fleet: Fleet) -> dict[str, Any]:
    """A first scenario for the twin service, from the bots that trade on it: a funded
    master, each bot's sub-account funded with twice its budget, a trade-only key per bot
    (named ``<bot>-trade``), and a synthetic market per pair."""
    bots = [bot for bot in fleet.bots if targets_twin(bot)]
    currencies = sorted({bot.budget.currency for bot in bots} or {"USDT"})
    funding: dict[str, dict[str, int]] = {}
    for bot in bots:
        per = funding.setdefault(bot.subaccount, {})
        amount = math.ceil(bot.budget.amount * TWIN_FUNDING_FACTOR)
        per[bot.budget.currency] = per.get(bot.budget.currency, 0) + amount
    pairs = sorted({pair for bot in bots for pair in bot.pairs})
    return {
        "status": "open",
        "master": {
            "name": "master",
            "balances": {"main": dict.fromkeys(currencies, TWIN_MASTER_FUNDS)},
        },
        "subaccounts": [
            {"name": name, "balances": {"trade": per}} for name, per in funding.items()
        ],
        "keys": [
            {
                "name": f"{bot.name}-trade",
                "user": bot.subaccount,
                "permissions": ["General", "Spot"],
            }
            for bot in bots
        ],
        "symbols": [
            {
                "symbol": pair.replace("/", "-"),
                "source": {
                    "kind": "synthetic",
                    "seed": index + 1,
                    "start_price": TWIN_START_PRICES.get(pair.split("/")[0], 1.0),
                    "volatility": 0.001,
                },
            }
            for index, pair in enumerate(pairs)
        ],
    }
