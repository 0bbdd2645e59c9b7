"""An ``Advisor`` built from bulkhead.yaml: the provider key resolved from its reference,
the strategy's declared parameters with the values the bot runs with, and every secret this
deployment knows, so the prompt check has something to look for."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path

import redis

from bulkhead.advisor.consult import Advisor
from bulkhead.advisor.context import Parameter, parameters_of
from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.models import Bot, Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.errors import OperatorError
from bulkhead.freqtrade.loading import load_class, source_of
from bulkhead.freqtrade.params import declared
from bulkhead.freqtrade.stack import advised, prepare
from bulkhead.gateway.custody import CustodyError, credential_path, load_credential


class AdvisorOff(OperatorError):
    """The advisor cannot be consulted for this bot (its reason)."""


def parameters_for(
    bot: Bot, spec_dir: Path, workspace: Workspace, index: int
) -> dict[str, Parameter]:
    """The strategy's loadable declared parameters, with the values the bot runs with (the
    spec's, the user's parameter file, the accepted proposals)."""
    where = f"bots.{index}.strategy"
    cls = load_class(source_of(bot, spec_dir, where))
    running = advised(prepare(bot, spec_dir, index).params, workspace.bot(bot.name))
    return parameters_of(declared(cls), running)


def known_secrets(
    fleet: Fleet, spec_dir: Path, workspace: Workspace, environ: Mapping[str, str]
) -> list[str]:
    """Every secret value this process can see: the bots' exchange keys, their gateway
    credentials, the memory admin password and the provider key."""
    found: list[str] = []
    for bot in fleet.bots:
        with contextlib.suppress(OperatorError):
            resolved = resolve_credentials(bot, environ, spec_dir)
            found += [v.get_secret_value() for v in resolved.values()]
        try:
            credential = load_credential(
                credential_path(workspace.gateway.root, bot.name), bot.name
            )
            found += [credential.api_key, credential.secret, credential.passphrase]
        except (CustodyError, OSError):
            pass
    refs = [fleet.memory.admin_password]
    if fleet.advisor is not None:
        refs.append(fleet.advisor.provider.api_key)
    for ref in refs:
        if ref is None:
            continue
        with contextlib.suppress(OperatorError):
            found.append(ref.resolve(environ, spec_dir).get_secret_value())
    return found


def build_advisor(
    fleet: Fleet,
    bot_name: str,
    spec_path: Path,
    client: redis.Redis,
    environ: Mapping[str, str],
    *,
    reload: Callable[[], str] | None = None,
    require_enabled: bool = True,
    offline: bool = False,
) -> Advisor:
    """The bot's advisor; ``offline``: for the operator's decisions only (no provider key
    needed, no call possible)."""
    settings = fleet.advisor
    if settings is None:
        raise AdvisorOff("no advisor: section in the spec (the provider, its key, the caps)")
    index = next(i for i, b in enumerate(fleet.bots) if b.name == bot_name)
    bot = fleet.bots[index]
    if require_enabled and not bot.advisor.enabled:
        raise AdvisorOff(f"the advisor is off for {bot.name} (bots.{index}.advisor.enabled)")
    spec_dir = spec_path.resolve().parent
    workspace = Workspace.for_spec(spec_path)
    key = (
        ""
        if offline
        else (
            settings.provider.api_key.resolve(
                environ, spec_dir, label="advisor.provider.api_key"
            ).get_secret_value()
        )
    )
    return Advisor(
        client,
        settings,
        bot,
        workspace.bot(bot.name),
        parameters_for(bot, spec_dir, workspace, index),
        api_key=key,
        secrets=known_secrets(fleet, spec_dir, workspace, environ),
        reload=reload,
    )
