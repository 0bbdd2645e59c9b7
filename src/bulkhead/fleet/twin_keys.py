"""The keys a project's twin created, put where each bot that trades on it reads its key:
``secrets/<bot>/{api_key,secret,passphrase}``, as a real deployment's key is put there by
hand (``bulkhead twin-keys``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bulkhead.config.models import Bot, Fleet
from bulkhead.fleet.compose import CREDENTIAL_PARTS
from bulkhead.fleet.containers import BOT_UID, HOST_SECRETS
from bulkhead.fleet.docker import DockerError, Project
from bulkhead.fleet.twin_service import (
    TWIN_CREDENTIALS_IN_CONTAINER,
    TWIN_SERVICE,
    targets_twin,
)
from bulkhead.plumbing import write_private

#: the permissions a twin key of a bot should have: trade-only
TRADE_ONLY = frozenset({"General", "Spot"})


def twin_credentials(project: Project) -> list[dict[str, Any]]:
    """The keys the project's twin created from its scenario (the twin must be running)."""
    output = project.call("exec", "-T", TWIN_SERVICE, "cat", TWIN_CREDENTIALS_IN_CONTAINER)
    try:
        loaded: list[dict[str, Any]] = json.loads(output)
    except ValueError:
        raise DockerError("the twin's credentials file is not JSON") from None
    return loaded


def twin_key_for(bot: Bot, credentials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The twin key of the bot's sub-account, a trade-only one first; DockerError if none
    (the project's twin was started from another scenario than the spec's)."""
    own = [c for c in credentials if c.get("subName") == bot.subaccount]
    if not own:
        raise DockerError(
            f"bot {bot.name}: the twin has no key of sub-account {bot.subaccount} "
            "(was its scenario drafted from another spec?)"
        )
    own.sort(key=lambda c: set(c.get("permissions", [])) != TRADE_ONLY)
    return own[0]


def write_twin_secrets(project: Project, fleet: Fleet) -> list[Path]:
    """For each bot that trades on the project's twin, its sub-account's twin key as its
    secret files (``secrets/<bot>/{api_key,secret,passphrase}``, 0600, uid 1000 when run
    as root): what a real deployment puts there by hand. The files written."""
    credentials = twin_credentials(project)
    written: list[Path] = []
    for bot in fleet.bots:
        if not targets_twin(bot):
            continue
        key = twin_key_for(bot, credentials)
        values = {
            "api_key": key["apiKey"],
            "secret": key["secret"],
            "passphrase": key["passphrase"],
        }
        for part in CREDENTIAL_PARTS:
            path = project.directory / HOST_SECRETS / bot.name / part
            written.append(_write_secret(path, str(values[part])))
    return written


def _write_secret(path: Path, value: str) -> Path:
    owner = (BOT_UID, BOT_UID) if os.geteuid() == 0 else None
    return write_private(path, value + "\n", owner=owner)
