"""``bulkhead init | render | preflight | run-bot``: from spec to a bot that may trade."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from bulkhead.cli.common import (
    DEFAULT_SPEC,
    SpecOption,
    environ,
    fail,
    load,
    secrets_dir,
    select,
    workspace,
)
from bulkhead.config.credentials import CREDENTIAL_PARTS, resolve_credentials
from bulkhead.config.models import Bot, Fleet
from bulkhead.freqtrade.config import write_private
from bulkhead.freqtrade.loading import StrategyRefused
from bulkhead.freqtrade.stack import Stack, prepare
from bulkhead.logs import JsonFormatter, Redactor, event, setup_logging
from bulkhead.plumbing import files as plumbing_files

BotArgument = Annotated[str, typer.Argument(help="Bot name from the spec.")]
logger = logging.getLogger("bulkhead.cli")


def strategy_stack(spec: Path, fleet: Fleet, bot: Bot, *, logged: bool = False) -> Stack:
    """The bot's strategy, loaded and checked, or exit 2 with one line per problem (as a
    spec error: nothing has started); ``logged``: the refusal is also a log event."""
    try:
        return prepare(bot, spec.resolve().parent, fleet.bots.index(bot))
    except StrategyRefused as error:
        if logged:
            event(logger, "strategy_refused", logging.ERROR, problems=error.problems)
        for line in error.problems:
            typer.secho(f"error: {spec}: {line}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def describe_stack(stack: Stack) -> str:
    """One line: which strategy runs, and the parameters it runs with."""
    values = []
    for space, entries in stack.params.items():
        if space == "roi":
            values.append(f"minimal_roi={json.dumps(entries)}")
        elif isinstance(entries, dict):
            values += [f"{name}={json.dumps(value)}" for name, value in entries.items()]
    shown = f"strategy {stack.source.label}"
    return f"{shown}, params: {', '.join(values)}" if values else shown


def _template() -> str:
    return resources.files("bulkhead.config").joinpath("templates/bulkhead.yaml").read_text()


def _dotenv_template(spec_text: str) -> str:
    import yaml

    from bulkhead.config.loader import parse_fleet

    fleet = parse_fleet(yaml.safe_load(spec_text))
    lines = ["# Secrets for bulkhead.yaml. Never commit this file (it is in .gitignore).", ""]
    for bot in fleet.bots:
        lines.append(f"# {bot.name}: a trade-only key of sub-account {bot.subaccount}")
        for part in CREDENTIAL_PARTS:
            ref = getattr(bot.credentials, part)
            if ref.env:
                lines.append(f"{ref.env}=")
        lines.append("")
    return "\n".join(lines)


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented example bulkhead.yaml and a .env template for its secrets."""
    spec_text = _template()
    targets = {
        directory / "bulkhead.yaml": spec_text,
        directory / ".env": _dotenv_template(spec_text),
    }
    existing = [str(path) for path in targets if path.exists()]
    if existing and not force:
        raise fail(f"{', '.join(existing)} already exist(s); use --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        if path.name == ".env":  # secrets go there: owner-only from its first byte
            plumbing_files.write_private(path, text)
        else:
            path.write_text(text)
        typer.echo(f"wrote {path}")
    typer.echo("Next: fill in .env, then `bulkhead render bot1` and `bulkhead preflight bot1`.")


def render(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    show: Annotated[bool, typer.Option(help="Also print the config.")] = False,
) -> None:
    """Write BOT's Freqtrade config (mode 0600) and its strategy stack.

    The config comes from the spec (its secrets are checked, never written); the strategy
    stack is the bot's strategy under Bulkhead's layer, beside it.
    """
    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    stack = strategy_stack(spec, fleet, chosen)
    paths = workspace(spec).bot(chosen.name)
    # Resolved only to prove they are there: secrets reach Freqtrade through its
    # environment at start, never through this file.
    resolve_credentials(chosen, environ(spec), secrets_dir(spec))
    config = stack.render(paths)
    write_private(paths.config, config)
    typer.echo(f"wrote {paths.config} (mode 0600, no secrets inside)")
    typer.echo(f"  {describe_stack(stack)}")
    typer.echo(
        f"  stake {config['stake_amount']} {config['stake_currency']} x "
        f"{config['max_open_trades']} trades, available capital "
        f"{config['available_capital']}, stoploss {config['stoploss']}"
    )
    if show:
        typer.echo(json.dumps(config, indent=2))


def preflight(bot: BotArgument, spec: SpecOption = DEFAULT_SPEC) -> None:
    """Prove BOT's key is harmless: a trade-only key of its own sub-account, and more.

    Exits 1 when any check fails: live trading never starts without passing this.
    """
    from bulkhead.exchange.preflight import make_client, run_preflight

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    strategy_stack(spec, fleet, chosen)
    credentials = resolve_credentials(chosen, environ(spec), secrets_dir(spec))
    report = run_preflight(chosen, make_client(chosen, credentials))
    typer.echo(report.table())
    if not report.passed:
        typer.secho("preflight FAILED: this key must not trade", err=True, fg="red")
        raise typer.Exit(1)
    typer.secho("preflight passed", fg=typer.colors.GREEN)


def run_bot(
    bot: BotArgument,
    spec: SpecOption = DEFAULT_SPEC,
    child_output: Annotated[
        Path | None, typer.Option(help="File for Freqtrade's raw output (default: ours).")
    ] = None,
    json_logs: Annotated[
        bool | None,
        typer.Option("--json-logs/--text-logs", help="Default: JSON unless a terminal."),
    ] = None,
) -> None:
    """Run BOT in the foreground under supervision (what `up` starts, and containers run).

    Takes the bot's lease, runs preflight when live, renders the config and keeps
    Freqtrade running (restart with backoff); Ctrl-C or SIGTERM stops it cleanly.
    """
    from bulkhead.fleet.gateway_access import GatewayAccess, environment_access, local_access
    from bulkhead.fleet.supervisor import Supervisor, SupervisorSettings
    from bulkhead.memory.deployment import (
        connection_from_environment,
        embedded,
        prepare_memory,
    )
    from bulkhead.memory.server import Connection

    fleet = load(spec)
    chosen = select(fleet, bot)[0]
    paths = workspace(spec).bot(chosen.name)
    redactor = setup_logging(bot=chosen.name, json_output=json_logs)
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(paths.log)
    formatter = JsonFormatter(chosen.name)
    formatter.redact = redactor
    file_handler.setFormatter(formatter)
    logging.getLogger().addHandler(file_handler)
    # Refused here, before the lease: logged in the bot's log for `bulkhead logs`.
    stack = strategy_stack(spec, fleet, chosen, logged=True)
    env = environ(spec)
    server = None if connection_from_environment(env) else embedded(fleet, workspace(spec))

    def memory() -> Connection:
        # In a container the bot is handed its own user and nothing more (no admin).
        given = connection_from_environment(env)
        if given is not None:
            return given
        return prepare_memory(fleet, workspace(spec), env).bots[chosen.name]

    def gateway() -> GatewayAccess:
        # In a container the access is given whole; on this machine, from the gateway's
        # folder (the running gateway's state file and the bot's credential file).
        given = environment_access(env, chosen.name)
        return given or local_access(workspace(spec).gateway, chosen.name)

    settings = SupervisorSettings(
        chosen,
        paths,
        gateway=gateway,
        child_output=child_output,
        redactor=redactor,
        memory=memory,
        memory_heal=server.heal if server is not None else None,
        gateway_heal=None if environment_access(env, chosen.name) else _gateway_heal(spec),
        render=lambda _bot, bot_paths: stack.render(bot_paths),
        advise=_advise(spec, chosen.name, env, redactor) if _advised(fleet, chosen, env) else None,
        advise_every_s=fleet.advisor.every_minutes * 60 if fleet.advisor else 3600.0,
    )
    supervisor = Supervisor(settings)
    sys.exit(supervisor.run())


def _advised(fleet: Fleet, bot: Bot, env: dict[str, str]) -> bool:
    """Whether this supervisor consults the advisor: on for the bot, and on this machine
    (the advisor's spend ledger needs the deployment's admin user, which a bot's container
    is never given; there, `bulkhead advise` from the host does it)."""
    from bulkhead.memory.deployment import connection_from_environment

    on = fleet.advisor is not None and bot.advisor.enabled
    return on and connection_from_environment(env) is None


def _advise(spec: Path, bot: str, env: dict[str, str], redactor: Redactor) -> Callable[[], Any]:
    """One consultation; the advisor is built at the first (its strategy loaded once), and
    the secrets it knows join the log redactor."""
    from bulkhead.advisor.consult import Advisor
    from bulkhead.advisor.setup import build_advisor
    from bulkhead.fleet.ftapi import reload_config
    from bulkhead.memory.deployment import prepare_memory

    built: list[Advisor] = []

    def consult() -> Any:
        if not built:
            fleet = load(spec)
            client = prepare_memory(fleet, workspace(spec), env).admin.client(socket_timeout=10)
            paths = workspace(spec).bot(bot)
            advisor = build_advisor(
                fleet, bot, spec, client, env, reload=lambda: reload_config(paths)
            )
            for secret in advisor.secrets:
                redactor.add(secret)
            built.append(advisor)
        return built[0].consult()

    return consult


def _gateway_heal(spec: Path) -> Callable[[], bool]:
    """Start the local gateway again if it no longer serves: True when it was restarted;
    raises when it could not be (its reason)."""
    from bulkhead.fleet import gateway_process
    from bulkhead.fleet.gateway_access import gateway_running

    paths = workspace(spec).gateway

    def heal() -> bool:
        if gateway_running(paths):
            return False
        started = gateway_process.ensure_running(spec, paths)
        if not started.ok:
            raise RuntimeError(f"the order gateway did not start: {started.detail}")
        return True

    return heal


def register(app: typer.Typer) -> None:
    for command in (init, render, preflight):
        app.command()(command)
    app.command("run-bot")(run_bot)
