"""``bulkhead gateway | kill | resume | guard``: the order gateway and the bots' trading states.

The gateway holds the bots' keys and checks every order against the budget ledger; the
trading states (ACTIVE, REDUCING, HALTED) live in Redis where the gateway enforces them,
so ``kill`` takes effect at once, even while the gateway restarts, and only ``resume``
lifts it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import redis
import typer

from bulkhead.cli.common import (
    DEFAULT_SPEC,
    SpecOption,
    environ,
    load,
    secrets_dir,
    select,
    workspace,
)
from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.models import Bot, Fleet
from bulkhead.errors import TemporaryError
from bulkhead.logs import JsonFormatter, event, setup_logging

if TYPE_CHECKING:
    from bulkhead.gateway.ledger import Snapshot
    from bulkhead.gateway.reconcile import KillReport
    from bulkhead.gateway.states import StateRecord
    from bulkhead.memory.server import Connection

BotArgument = Annotated[str, typer.Argument(help="Bot name from the spec.")]
logger = logging.getLogger("bulkhead.cli")


class RedisUnreachable(TemporaryError):
    """The trading states and ledgers are in Redis, which did not answer."""


def gateway_connection(spec: Any, fleet: Fleet, *, start: bool = True) -> Connection | None:
    """Where the trading states and ledgers are, and as whom.

    In a container the connection is given whole (Compose: the gateway's own ACL user,
    fenced to the gateway's keys); on this machine, the deployment's admin. With
    ``start=False`` an embedded Redis is never started: None when it never ran here (one
    that ran and stopped is returned, and does not answer).
    """
    from bulkhead.memory.deployment import admin_connection, connection_from_environment, embedded

    given = connection_from_environment(environ(spec))
    if given is not None:
        return given
    server = embedded(fleet, workspace(spec))
    if server is not None and not start:
        try:
            return server.admin()
        except KeyError:  # no server.json: never started in this workspace
            return None
    return admin_connection(fleet, workspace(spec), environ(spec))


def _redis(spec: Any, fleet: Fleet) -> redis.Redis:
    connection = gateway_connection(spec, fleet)
    assert connection is not None, "start=True always gives a connection"
    return connection.client(socket_timeout=5)


def gateway(
    spec: SpecOption = DEFAULT_SPEC,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port (default: the spec's, else the last one used).")
    ] = None,
    json_logs: Annotated[
        bool | None,
        typer.Option("--json-logs/--text-logs", help="Default: JSON unless a terminal."),
    ] = None,
    credentials_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read the bots' gateway credentials (<bot>.gateway-credential.json) from "
            "this folder, never generating one (Compose mounts them there); default: "
            "the gateway's folder, generated on first use."
        ),
    ] = None,
) -> None:
    """Run the order gateway in the foreground (what `up` starts, and Compose runs).

    It holds every bot's real key, runs the preflight on each live bot's key, rebuilds
    each bot's budget ledger from the exchange, then serves KuCoin's spot API to the bots
    on HOST:PORT: only allowlisted calls, re-signed with the real key; every buy checked
    against the bot's budget. Ctrl-C or SIGTERM stops it.
    """
    from bulkhead.fleet.lease import Lease
    from bulkhead.gateway import service

    fleet = load(spec)
    paths = workspace(spec).gateway
    redactor = setup_logging(bot="gateway", json_output=json_logs)
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(paths.log)
    formatter = JsonFormatter("gateway")
    formatter.redact = redactor  # the same as stderr's: each line is formatted once
    file_handler.setFormatter(formatter)
    logging.getLogger().addHandler(file_handler)
    with Lease(paths.lock):
        client = _redis(spec, fleet)
        built = service.build(
            fleet,
            paths,
            client,
            environ=environ(spec),
            secrets_dir=secrets_dir(spec),
            host=host,
            port=port,
            credentials_dir=credentials_dir,
        )
        for secret in built.secrets():
            redactor.add(secret)
        # uvicorn stops on SIGTERM (after draining requests and settlements), then raises
        # the signal again with the handler it found: as SystemExit, it unwinds through
        # the gateway's own cleanup (state file "stopped", gateway_stopped) instead of
        # ending the process where it stands
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            asyncio.run(service.serve(built))
        finally:
            signal.signal(signal.SIGTERM, previous)


def kill(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    exit_positions: Annotated[
        bool, typer.Option("--exit", help="Also sell the bot's positions at market.")
    ] = False,
) -> None:
    """Halt BOT at once: no new orders from it pass the gateway (cancels still do).

    The HALTED state is written first and persists across restarts of the bot, the
    gateway and Redis; then the bot's open buy orders are cancelled at the exchange and,
    with --exit, its positions sold. Only `bulkhead resume BOT` lifts it.
    """
    from bulkhead.gateway.states import TradingState, TradingStates

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    states = TradingStates(_redis(spec, fleet))
    states.set(chosen.name, TradingState.HALTED, "KILL by operator", by="operator")
    event(logger, "bot_killed", bot=chosen.name, exit_positions=exit_positions)
    typer.echo(f"{chosen.name}: HALTED (no new orders pass the gateway)")
    report = asyncio.run(_cancel_and_exit(spec, fleet, chosen, states, exit_positions))
    for line in report:
        typer.echo(f"{chosen.name}: {line}")


async def _cancel_and_exit(
    spec: Any, fleet: Fleet, bot: Bot, states: Any, exit_positions: bool
) -> list[str]:
    from bulkhead.gateway.custody import RealKey
    from bulkhead.gateway.ledger import Ledger
    from bulkhead.gateway.reconcile import ExchangeReader, Reconciler
    from bulkhead.gateway.service import upstream_url
    from bulkhead.gateway.upstream import Upstream

    real = RealKey.of(resolve_credentials(bot, environ(spec), secrets_dir(spec)))
    upstream = Upstream(upstream_url(fleet))
    await upstream.open()
    try:
        reconciler = Reconciler(
            bot.name,
            ExchangeReader(upstream, real),
            Ledger(states.client, bot.name, bot.budget.amount, compound=bot.risk.compound),
            states,
            stake_currency=bot.budget.currency,
            fee_rate=bot.risk.fee_rate,
            slippage=bot.risk.slippage,
            mismatch_tolerance=bot.risk.balance_tolerance,
        )
        done = await reconciler.kill(exit_positions=exit_positions)
    finally:
        await upstream.close()
    return _describe_kill(done)


def _describe_kill(done: KillReport) -> list[str]:
    """One line per thing ``kill`` did or could not do, for the operator."""
    lines = [f"cancelled open buy {order}" for order in done.cancelled]
    lines += [f"could NOT cancel {order}: {why}" for order, why in done.not_cancelled.items()]
    lines += [f"sold {size} {symbol} at market" for symbol, size in done.sold.items()]
    lines += [f"could NOT sell {symbol}: {why}" for symbol, why in done.not_sold.items()]
    if not lines:
        lines.append("no open buy orders" + (", no positions" if done.exit_positions else ""))
    return lines


def resume(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "resumed by operator",
) -> None:
    """Lift HALTED or REDUCING: BOT may trade again within its budget."""
    from bulkhead.gateway.states import TradingState, TradingStates

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    states = TradingStates(_redis(spec, fleet))
    before = states.get(chosen.name)
    states.set(chosen.name, TradingState.ACTIVE, f"RESUME {reason}", by="operator")
    event(logger, "bot_resumed", bot=chosen.name, was=before.state.value)
    typer.echo(f"{chosen.name}: ACTIVE (was {before.state.value})")


def _plain(amount: Decimal) -> str:
    """A ledger amount as people write it: 0.00000000, never 0E-8."""
    return f"{amount:f}"


def guard_reading(client: redis.Redis, bot: Bot) -> tuple[StateRecord, Snapshot]:
    """BOT's trading state and budget ledger (cap, committed, headroom, ...) as the gateway
    enforces them: what `guard` and `status` show. Raises ``StateUnavailable`` or
    ``LedgerUnavailable`` when Redis does not answer."""
    from bulkhead.gateway.ledger import Ledger
    from bulkhead.gateway.states import TradingStates

    record = TradingStates(client).get(bot.name)
    ledger = Ledger(client, bot.name, bot.budget.amount, compound=bot.risk.compound)
    return record, ledger.snapshot()


def guard_view(client: redis.Redis, bot: Bot, decisions: int) -> dict[str, Any]:
    """What `guard` shows, as data: state, ledger numbers, last decisions."""
    from bulkhead.gateway.states import TradingStates

    record, snapshot = guard_reading(client, bot)
    states = TradingStates(client)
    return {
        **guard_rules_view(client, bot, decisions),
        "bot": bot.name,
        "state": record.as_dict(),
        "currency": bot.budget.currency,
        "budget": str(bot.budget.amount),
        "cap": _plain(snapshot.cap),
        "committed": _plain(snapshot.committed),
        "headroom": _plain(snapshot.headroom),
        "realized": _plain(snapshot.realized),
        "positions": {
            s: {"qty": _plain(p.qty), "cost": _plain(p.cost)} for s, p in snapshot.positions.items()
        },
        "open_buys": {oid: _plain(cost) for oid, cost in snapshot.reservations.items()},
        "lost_answers": sorted(snapshot.lost),
        "decisions": [
            {"at": datetime.fromtimestamp(d.at_ms / 1000, UTC).isoformat(), **d.fields}
            for d in states.last_decisions(bot.name, decisions)
        ],
    }


#: how far back in the bot's memory stream the guard's decisions are looked for
GUARD_EVENTS_SCANNED = 500


def guard_rules_view(client: redis.Redis, bot: Bot, decisions: int) -> dict[str, Any]:
    """The risk guard's side: its own state, every rule's last reading beside its limit,
    and its last decisions (denials, scalings, state changes, alerts) from the bot's memory."""
    from bulkhead.guard.wiring import RedisGuardMemory
    from bulkhead.memory.store import MemoryStore

    rules = bot.risk.guard
    try:
        remembered = RedisGuardMemory(client, bot.name).load()
        events = [
            e
            for e in MemoryStore(client, bot.name).events(GUARD_EVENTS_SCANNED)
            if str(e["event"]).startswith("guard_")
        ]
    except redis.ResponseError as error:  # a user fenced to the gateway's keys (Compose)
        if "NOPERM" not in str(error).upper() and "permission" not in str(error).lower():
            raise
        return {
            "guard": {
                "enabled": rules.enabled,
                "unreadable": "the risk guard's memory is the bot's: this Redis user (the "
                "gateway's, fenced to bhgw: keys) cannot read it; run `bulkhead guard` "
                "with the deployment's admin or reader user",
            }
        }
    limits = {
        "drawdown": {"limit": rules.max_drawdown, "recovery": rules.drawdown_recovery},
        "daily_loss": {"limit": rules.daily_loss},
        "weekly_loss": {"limit": rules.weekly_loss},
        "loss_streak": {"limit": rules.loss_streak, "pause_min": rules.loss_streak_pause_minutes},
        "market_data": {"stale_after_timeframes": rules.stale_after_timeframes},
        "volatility": {"high": rules.volatility.high, "extreme": rules.volatility.extreme},
        "trade_cap": {"share": rules.max_trade_share},
        "pair_cap": {"share": rules.max_pair_share},
        "critical": {"max_errors_10min": rules.max_errors, "memory_down_s": rules.memory_down_s},
    }
    readings = remembered.get("readings") if isinstance(remembered.get("readings"), dict) else {}
    return {
        "guard": {
            "enabled": rules.enabled,
            "state": remembered.get("state", "ACTIVE"),
            "reason": remembered.get("reason", ""),
            "peak_equity": remembered.get("peak"),
            "day_start_equity": remembered.get("day_start_equity"),
            "week_start_equity": remembered.get("week_start_equity"),
            "drawdown_tripped": bool(remembered.get("drawdown_tripped", False)),
            "rules": {
                name: {"limits": limit, "last": (readings or {}).get(name)}
                for name, limit in limits.items()
            },
            "decisions": events[-decisions:] if decisions > 0 else [],
        }
    }


def _print_guard_rules(view: dict[str, Any]) -> None:
    guard = view["guard"]
    if "unreadable" in guard:
        typer.echo(f"  risk guard: {guard['unreadable']}")
        return
    if not guard["enabled"]:
        typer.echo("  risk guard: off (risk.guard.enabled: false)")
        return
    peak = guard["peak_equity"]
    typer.echo(
        f"  risk guard: {guard['state']}"
        + (f" ({guard['reason']})" if guard["reason"] else "")
        + (f"  peak equity {peak:.2f}" if isinstance(peak, int | float) else "  (no reading yet)")
    )
    for name, rule in guard["rules"].items():
        limits = " ".join(f"{k}={v}" for k, v in rule["limits"].items() if v is not None)
        last = rule["last"]
        if isinstance(last, dict):
            numbers = " ".join(f"{k}={_number(v)}" for k, v in last.get("numbers", {}).items())
            verdict = f"{last.get('decision', '?')} {last.get('code', '')} {numbers}"
        else:
            verdict = "not read yet"
        typer.echo(f"    {name:<12} {verdict.strip():<60} [{limits}]")
    if guard["decisions"]:
        typer.echo("  last guard decisions:")
    for entry in guard["decisions"]:
        at = datetime.fromtimestamp(int(str(entry["id"]).split("-")[0]) / 1000, UTC)
        data = dict(entry["data"])
        reason = data.pop("reason", "")
        rest = " ".join(f"{k}={v}" for k, v in data.items() if v not in ("", None))
        typer.echo(f"    {at:%H:%M:%S} {entry['event']} {reason} {rest}".rstrip())


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def guard(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    last: Annotated[
        int, typer.Option("-n", "--last", min=0, max=1000, help="Decisions shown.")
    ] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """BOT's trading state, budget cap, committed capital, headroom and the gateway's last
    decisions; then the risk guard: each rule's last reading against its limit, and its
    last decisions (from the bot's memory)."""
    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    try:
        view = guard_view(_redis(spec, fleet), chosen, last)
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise RedisUnreachable(f"guard: cannot reach Redis ({error})") from error
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    state = view["state"]
    currency = view["currency"]
    since = (
        datetime.fromtimestamp(state["since_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if state["since_ms"]
        else "-"
    )
    typer.echo(
        f"{view['bot']}: {state['state']}"
        + (f" ({state['reason']}, {state['by']}, since {since})" if state["reason"] else "")
    )
    typer.echo(
        f"  cap {view['cap']} {currency}  committed {view['committed']}  "
        f"headroom {view['headroom']}  realized {view['realized']}  (budget {view['budget']})"
    )
    for symbol, position in view["positions"].items():
        typer.echo(f"  position {symbol}: {position['qty']} at cost {position['cost']} {currency}")
    for oid, cost in view["open_buys"].items():
        lost = " (answer lost; awaiting the exchange)" if oid in view["lost_answers"] else ""
        typer.echo(f"  open buy {oid}: reserved {cost} {currency}{lost}")
    if view["decisions"]:
        typer.echo("  last decisions:")
    for decision in view["decisions"]:
        shown = dict(decision)
        at = str(shown.pop("at"))[11:19]
        head = f"{shown.pop('kind', '')} {shown.pop('decision', '')}"
        reason = shown.pop("reason", "")
        rest = " ".join(f"{k}={v}" for k, v in shown.items() if v not in ("", "None"))
        typer.echo(f"    {at} {head} {reason} {rest}".rstrip())
    _print_guard_rules(view)


def register(app: typer.Typer) -> None:
    for command in (gateway, kill, resume, guard):
        app.command()(command)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)
