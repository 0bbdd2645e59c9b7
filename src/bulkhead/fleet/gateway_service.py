"""The ``gateway`` service of a fleet's Compose project: the only holder of the bots' keys.

One container runs ``bulkhead gateway`` for the whole spec. It holds every bot's real
KuCoin key (the three secrets ``<bot>_api_key``, ``_secret``, ``_passphrase``, pointed at
as the bots' own containers once were: ``NAME_FILE`` variables for ``{env: NAME}``
references, the referenced path for ``{file: PATH}``), every bot's gateway credential (in
``/run/secrets/gateway-credentials``, which ``--credentials-dir`` names, so it never
generates one that its bot would not have), and its own Redis password. It runs the
preflight on each live bot's key, rebuilds each bot's budget ledger in Redis and serves
KuCoin's spot API to the bots on port 8090.

Its walls are a bot's: read-only root, all capabilities dropped, ``no-new-privileges``,
uid 1000, an init, CPU and memory limits; its one writable place is its volume
``gateway-data`` (state file, lease, log). It joins every bot's network (each bot reaches
it, and nothing else but Redis) and the ``exchange`` network, its only way out: with the
twin service there, an internal network holding the twin alone; without, a network with
a route to KuCoin.

In Redis it is its own ACL user ``gateway`` (``redis_service.gateway_rule``), confined to
the gateway's keys ``bhgw:*``: the ledger, trading states and decisions of every bot, and
no bot's memory.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

from bulkhead.config.models import Bot, Fleet
from bulkhead.config.secrets import Credentials
from bulkhead.errors import OperatorError
from bulkhead.fleet.containers import (
    BOT_UID,
    BOT_USER,
    HOST_SECRETS,
    SECRETS_IN_CONTAINER,
    SPEC_IN_CONTAINER,
    WORKSPACE_IN_CONTAINER,
    hardening,
    logging_options,
)
from bulkhead.fleet.redis_service import GATEWAY_PASSWORD_PART, GATEWAY_REDIS_USER
from bulkhead.fleet.twin_service import TWIN_SERVICE
from bulkhead.gateway.custody import CREDENTIAL_FILE, GatewayCredential
from bulkhead.memory.recorder import PASSWORD_ENV, URL_ENV, USER_ENV
from bulkhead.plumbing import write_private

GATEWAY_SERVICE = "gateway"
GATEWAY_PORT = 8090
GATEWAY_VOLUME = "gateway-data"
#: the network the gateway reaches the exchange (KuCoin, or the twin service) on
EXCHANGE_NETWORK = "exchange"
#: what each bot's supervisor is told: ``gateway_access.URL_ENV``
GATEWAY_URL = f"http://{GATEWAY_SERVICE}:{GATEWAY_PORT}"
#: where the gateway finds the bots' gateway credentials (``--credentials-dir``)
CREDENTIALS_IN_CONTAINER = f"{SECRETS_IN_CONTAINER}/gateway-credentials"
#: the host file of a bot's gateway credential, under ``secrets/<bot>/``
CREDENTIAL_PART = "gateway_credential"
#: not "<bot>_<part>" as every bot's secrets are, so no bot name can collide with it
REDIS_PASSWORD_SECRET = "gateway-redis-password"  # noqa: S105 - a secret's name
CREDENTIAL_PARTS = tuple(Credentials.model_fields)
#: ``Workspace.for_spec(SPEC_IN_CONTAINER).gateway.state``, in the gateway's volume
STATE_IN_CONTAINER = f"{WORKSPACE_IN_CONTAINER}/gateway/gateway.json"
#: healthy = listening, and its state file says it serves (written once it listens, after
#: preflights and ledger rebuilds): no request goes upstream, nothing is logged
GATEWAY_CHECK = (
    "import json, socket; "
    f"socket.create_connection(('127.0.0.1', {GATEWAY_PORT}), 5).close(); "
    f"assert json.load(open({STATE_IN_CONTAINER!r}))['state'] == 'serving'"
)
GATEWAY_HEALTHCHECK_TIMING = {
    "interval": "5s",
    "timeout": "10s",
    "retries": 3,
    "start_period": "2m",
}


class KeysCollide(OperatorError, ValueError):
    """Two key parts (of one bot or of two) would be read from one place in the gateway's
    container: each part of each bot needs its own secret."""


def secret_name(bot: Bot, part: str) -> str:
    return f"{bot.name}_{part}"


def credential_target(bot: Bot) -> str:
    """Where the gateway reads the bot's gateway credential (``custody.credential_path``)."""
    return f"{CREDENTIALS_IN_CONTAINER}/{CREDENTIAL_FILE.format(bot=bot.name)}"


def key_mounts(fleet: Fleet) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Every bot's key secrets as the gateway mounts them, and the ``NAME_FILE`` variables
    that point the spec's ``{env: NAME}`` references at them (``SecretRef.resolve`` reads
    ``NAME_FILE`` when ``NAME`` is unset); ``{file: PATH}`` references get the secret at
    ``PATH`` as the gateway resolves it (relative to the spec's folder ``/config``)."""
    mounts: list[dict[str, str]] = []
    environment: dict[str, str] = {}
    readers: dict[str, str] = {}
    for bot in fleet.bots:
        for part in CREDENTIAL_PARTS:
            ref = getattr(bot.credentials, part)
            name = secret_name(bot, part)
            if ref.env is not None:
                target = f"{SECRETS_IN_CONTAINER}/{name}"
                variable = f"{ref.env}_FILE"
                if variable in environment:
                    raise KeysCollide(
                        f"{readers[variable]} and bot {bot.name}'s {part} both read env "
                        f"{ref.env}; in Compose each part of each bot needs its own secret"
                    )
                environment[variable] = target
                readers[variable] = f"bot {bot.name}'s {part}"
            else:
                assert ref.file is not None
                spec_dir = posixpath.dirname(SPEC_IN_CONTAINER)
                target = posixpath.normpath(posixpath.join(spec_dir, ref.file.as_posix()))
            if target in readers:
                raise KeysCollide(
                    f"{readers[target]} and bot {bot.name}'s {part} both read {target}; "
                    "in Compose each part of each bot needs its own secret"
                )
            readers[target] = f"bot {bot.name}'s {part}"
            mounts.append({"source": name, "target": target})
    return mounts, environment


def gateway_secrets(fleet: Fleet) -> dict[str, dict[str, str]]:
    """The project's secrets the gateway holds: keys, gateway credentials, Redis password."""
    found: dict[str, dict[str, str]] = {}
    for bot in fleet.bots:
        for part in (*CREDENTIAL_PARTS, CREDENTIAL_PART):
            found[secret_name(bot, part)] = {"file": f"{HOST_SECRETS}/{bot.name}/{part}"}
    found[REDIS_PASSWORD_SECRET] = {"file": f"{HOST_SECRETS}/redis/{GATEWAY_PASSWORD_PART}"}
    return found


def gateway_service(
    fleet: Fleet,
    bot_networks: list[str],
    *,
    image: str,
    spec_path: str,
    cpus: float,
    memory: str,
    with_twin: bool,
) -> dict[str, Any]:
    mounts, environment = key_mounts(fleet)
    mounts += [
        {"source": secret_name(bot, CREDENTIAL_PART), "target": credential_target(bot)}
        for bot in fleet.bots
    ]
    password = f"{SECRETS_IN_CONTAINER}/{REDIS_PASSWORD_SECRET}"
    mounts.append({"source": REDIS_PASSWORD_SECRET, "target": password})
    depends_on: dict[str, Any] = {"redis": {"condition": "service_healthy"}}
    if with_twin:
        depends_on[TWIN_SERVICE] = {"condition": "service_healthy"}
    return {
        "image": image,
        "command": [
            "gateway",
            "--spec",
            SPEC_IN_CONTAINER,
            "--host",
            "0.0.0.0",  # noqa: S104 - inside the container; no port is published
            "--port",
            str(GATEWAY_PORT),
            "--credentials-dir",
            CREDENTIALS_IN_CONTAINER,
        ],
        "user": BOT_USER,
        "init": True,
        **hardening(),
        "stop_grace_period": "20s",
        "deploy": {"resources": {"limits": {"cpus": cpus, "memory": memory}}},
        "environment": {
            # Its own Redis user, fenced to the gateway's keys: no bot's memory, no admin.
            URL_ENV: "redis://redis:6379/0",
            USER_ENV: GATEWAY_REDIS_USER,
            f"{PASSWORD_ENV}_FILE": password,
            **environment,
        },
        "secrets": mounts,
        "volumes": [
            {
                "type": "bind",
                "source": spec_path,
                "target": SPEC_IN_CONTAINER,
                "read_only": True,
                "bind": {"create_host_path": False},
            },
            {"type": "volume", "source": GATEWAY_VOLUME, "target": WORKSPACE_IN_CONTAINER},
        ],
        "tmpfs": ["/tmp:size=64m"],  # noqa: S108 - a private tmpfs, not the host's /tmp
        "networks": [*bot_networks, EXCHANGE_NETWORK],
        "healthcheck": {
            "test": ["CMD", "python", "-c", GATEWAY_CHECK],
            **GATEWAY_HEALTHCHECK_TIMING,
        },
        "depends_on": depends_on,
        "logging": logging_options(),
    }


def write_gateway_credentials(fleet: Fleet, secrets_dir: Path) -> list[Path]:
    """Each bot's gateway credential, ``secrets/<bot>/gateway_credential``: generated once
    (an existing one is kept, so running containers keep working), 0600, and handed to uid
    1000 when written by root, since the bot and the gateway, both uid 1000 in their
    containers, read it and refuse a file another user owns or may read
    (``custody.load_credential``). Known to that bot and the gateway only; delete it and
    regenerate to rotate (then recreate both). The files written."""
    written: list[Path] = []
    owner = (BOT_UID, BOT_UID) if os.geteuid() == 0 else None
    for bot in fleet.bots:
        path = secrets_dir / bot.name / CREDENTIAL_PART
        if path.exists() or path.is_symlink():
            continue
        credential = GatewayCredential.generate(bot.name)
        written.append(write_private(path, credential.as_json(), owner=owner))
    return written
