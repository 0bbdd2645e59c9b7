"""The order gateway as a service: every bot of a spec behind one local KuCoin endpoint.

Start-up is where the gateway earns its trust, so it is strict and in this order:

1. every bot's real key is resolved from the spec's references; a bot whose key does not
   resolve is not served (its Freqtrade cannot even read a balance);
2. every live bot's real key passes the preflight (trade only, no transfer, no withdrawal)
   or the bot is not served: a key that could move funds is never used;
3. every served bot's ledger is rebuilt from the exchange (open orders, fills, balances),
   so a restart of the gateway or of Redis neither leaks nor double counts; a bot whose
   ledger cannot be rebuilt is not served (fail closed);
4. only then does it listen, and write its state file (where it listens, and for each bot
   whether it is served or why not) which the bots' supervisors read.

While it runs, one reconciler per live bot keeps the ledger following the exchange.
Dry-run bots are served for market data and their own balances only: every order they
would place is refused (``OrderRules.orders_allowed``).

All the bots of one gateway trade on one target (real KuCoin, or one twin): public market
data has no bot to route it by.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
import uvicorn
from pydantic import SecretStr

from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.models import Bot, Fleet
from bulkhead.config.secrets import SecretResolutionError
from bulkhead.config.workspace import GatewayPaths
from bulkhead.errors import OperatorError
from bulkhead.gateway.app import GatewayApp
from bulkhead.gateway.custody import (
    Custody,
    CustodyError,
    GatewayCredential,
    RealKey,
    credential_path,
    gateway_credential,
    load_credential,
)
from bulkhead.gateway.guard_route import GuardRoute
from bulkhead.gateway.guarded import BudgetHook, OrderRules
from bulkhead.gateway.ledger import Ledger
from bulkhead.gateway.reconcile import ExchangeReader, Reconciler
from bulkhead.gateway.states import TradingStates
from bulkhead.gateway.upstream import Upstream
from bulkhead.kucoin.serving import uvicorn_config
from bulkhead.logs import event
from bulkhead.plumbing import free_port, write_private

logger = logging.getLogger("bulkhead.gateway")

KUCOIN_URL = "https://api.kucoin.com"
#: how often each reconciler looks at the exchange
RECONCILE_EVERY_S = 2.0

#: the preflight the gateway runs on a live bot's real key: passed, and a JSON-able report
Preflight = Callable[[Bot, Mapping[str, SecretStr]], tuple[bool, dict[str, Any]]]


def default_preflight(
    bot: Bot, credentials: Mapping[str, SecretStr]
) -> tuple[bool, dict[str, Any]]:
    from bulkhead.exchange.preflight import make_client, run_preflight

    report = run_preflight(bot, make_client(bot, credentials))
    return report.passed, report.as_dict()


class MixedTargets(OperatorError):
    """The spec's bots trade on different targets: one gateway serves one."""


@dataclass
class BotVerdict:
    """Whether the gateway serves a bot, and why not."""

    served: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"served": self.served, "reason": self.reason}


def upstream_url(fleet: Fleet) -> str:
    targets = {bot.exchange.twin_url if bot.exchange.is_twin else KUCOIN_URL for bot in fleet.bots}
    if len(targets) != 1:
        raise MixedTargets(
            "the spec's bots trade on different targets "
            f"({', '.join(sorted(targets))}); one gateway serves one: split the spec"
        )
    return targets.pop()


def order_rules(bot: Bot) -> OrderRules:
    return OrderRules(
        budget=bot.budget.amount,
        stake_currency=bot.budget.currency,
        fee_rate=bot.risk.fee_rate,
        slippage=bot.risk.slippage,
        orders_per_minute=bot.risk.orders_per_minute,
        orders_allowed=bot.mode == "live",
    )


def gateway_port(fleet: Fleet, paths: GatewayPaths) -> int:
    """The spec's port, else the one used last time (bots' configs point at it), else a
    free one."""
    if fleet.gateway.port is not None:
        return fleet.gateway.port
    previous = read_state(paths).get("port")
    if isinstance(previous, int) and 1024 <= previous <= 65535:
        return previous
    return free_port()


def read_state(paths: GatewayPaths) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


@dataclass
class Gateway:
    """Everything one gateway process holds, built by ``build`` and run by ``serve``."""

    fleet: Fleet
    paths: GatewayPaths
    client: redis.Redis
    upstream: Upstream
    host: str
    port: int
    verdicts: dict[str, BotVerdict]
    keys: dict[str, tuple[GatewayCredential, RealKey]]
    states: TradingStates
    ledgers: dict[str, Ledger]
    reconcilers: dict[str, Reconciler] = field(default_factory=dict)
    app: GatewayApp | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def secrets(self) -> list[str]:
        found: list[str] = []
        for credential, real in self.keys.values():
            found += [credential.secret, credential.passphrase]
            found += [real.api_key.get_secret_value(), real.secret.get_secret_value()]
            found.append(real.passphrase.get_secret_value())
        return found

    def write_state(self, state: str) -> None:
        write_private(
            self.paths.state,
            json.dumps(
                {
                    "state": state,
                    "pid": os.getpid(),
                    "url": self.url,
                    "port": self.port,
                    "upstream": self.upstream.base_url,
                    "updated_at": time.time(),
                    "bots": {name: verdict.as_dict() for name, verdict in self.verdicts.items()},
                },
                indent=2,
            ),
        )


def build(
    fleet: Fleet,
    paths: GatewayPaths,
    client: redis.Redis,
    *,
    environ: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    preflight: Preflight = default_preflight,
    credentials_dir: Path | None = None,
) -> Gateway:
    """Resolve keys and run preflights (steps 1-2); nothing listens yet.

    The bots' gateway credentials are generated in the gateway's folder on first use;
    with ``credentials_dir`` (Compose, where they are secrets generated on the host and
    given to each bot too) they are only read from there, and a bot whose credential is
    missing or untrusted (``custody.load_credential``) is not served.
    """
    upstream = Upstream(upstream_url(fleet))
    paths.root.mkdir(parents=True, exist_ok=True)
    verdicts: dict[str, BotVerdict] = {}
    keys: dict[str, tuple[GatewayCredential, RealKey]] = {}
    states = TradingStates(client)
    ledgers: dict[str, Ledger] = {}
    for bot in fleet.bots:
        if credentials_dir is None:
            credential = gateway_credential(paths.root, bot.name)
        else:
            try:
                credential = load_credential(credential_path(credentials_dir, bot.name), bot.name)
            except CustodyError as error:
                verdicts[bot.name] = BotVerdict(False, f"gateway credential unusable: {error}")
                event(logger, "gateway_bot_refused", logging.ERROR, bot=bot.name, reason=str(error))
                continue
        try:
            resolved = resolve_credentials(bot, environ, secrets_dir)
        except SecretResolutionError as error:
            verdicts[bot.name] = BotVerdict(False, f"key not resolved: {error}")
            event(logger, "gateway_bot_refused", logging.ERROR, bot=bot.name, reason=str(error))
            continue
        if bot.mode == "live":
            try:
                passed, report = preflight(bot, resolved)
            except Exception as error:  # the preflight fails closed; so does its crash
                passed, report = False, {"error": type(error).__name__}
            event(logger, "gateway_preflight", bot=bot.name, passed=passed, report=report)
            if not passed:
                verdicts[bot.name] = BotVerdict(False, "preflight failed")
                continue
        keys[bot.name] = (credential, RealKey.of(resolved))
        ledgers[bot.name] = Ledger(client, bot.name, bot.budget.amount, compound=bot.risk.compound)
        verdicts[bot.name] = BotVerdict(True)
    return Gateway(
        fleet=fleet,
        paths=paths,
        client=client,
        upstream=upstream,
        host=host,
        port=port or gateway_port(fleet, paths),
        verdicts=verdicts,
        keys=keys,
        states=states,
        ledgers=ledgers,
    )


async def prepare(gateway: Gateway) -> GatewayApp:
    """Rebuild every served live bot's ledger (step 3) and assemble the app."""
    await gateway.upstream.open()
    bots = {bot.name: bot for bot in gateway.fleet.bots}
    readers = {
        name: ExchangeReader(gateway.upstream, real) for name, (_, real) in gateway.keys.items()
    }
    for name in list(gateway.keys):
        bot = bots[name]
        if bot.mode != "live":
            continue
        reconciler = Reconciler(
            name,
            readers[name],
            gateway.ledgers[name],
            gateway.states,
            stake_currency=bot.budget.currency,
            fee_rate=bot.risk.fee_rate,
            slippage=bot.risk.slippage,
            mismatch_tolerance=bot.risk.balance_tolerance,
        )
        try:
            await reconciler.start()
        except Exception as error:  # fail closed: not served until a restart rebuilds it
            gateway.verdicts[name] = BotVerdict(False, f"ledger rebuild failed: {error}")
            del gateway.keys[name]
            event(logger, "gateway_bot_refused", logging.ERROR, bot=name, reason=str(error)[:300])
            continue
        gateway.reconcilers[name] = reconciler  # reconciler.start logged ledger_rebuilt
    any_reader = next(iter(readers.values()), None)

    async def best_ask(symbol: str) -> Decimal | None:
        if any_reader is None:
            return None
        return await any_reader.best_ask(symbol)

    hook = BudgetHook(
        ledgers=gateway.ledgers,
        states=gateway.states,
        rules={bot.name: order_rules(bot) for bot in gateway.fleet.bots},
        best_ask=best_ask,
    )
    custody = Custody.of(gateway.keys.values())

    async def exchange_status() -> str:
        return "" if any_reader is None else await any_reader.exchange_status()

    route = GuardRoute(gateway.states, exchange_status=exchange_status)
    gateway.app = GatewayApp(custody, gateway.upstream, order_hook=hook, guard_route=route)
    return gateway.app


async def serve(gateway: Gateway, *, ready: Callable[[], None] | None = None) -> None:
    """Prepare, listen, reconcile, until SIGINT/SIGTERM (uvicorn's own handling)."""
    app = await prepare(gateway)
    server = uvicorn.Server(uvicorn_config(app, gateway.host, gateway.port, quiet=True))
    tasks = [
        asyncio.create_task(reconciler.run_forever(RECONCILE_EVERY_S), name=f"reconcile-{name}")
        for name, reconciler in gateway.reconcilers.items()
    ]

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        gateway.write_state("serving")
        event(
            logger,
            "gateway_serving",
            url=gateway.url,
            upstream=gateway.upstream.base_url,
            bots={name: verdict.as_dict() for name, verdict in gateway.verdicts.items()},
        )
        if ready is not None:
            ready()

    announcer = asyncio.create_task(announce())
    try:
        await server.serve()
    finally:
        for task in [announcer, *tasks]:
            task.cancel()
        for task in [announcer, *tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await gateway.upstream.close()
        gateway.write_state("stopped")
        event(logger, "gateway_stopped", url=gateway.url)
