"""The ``redis`` service of a fleet's Compose project: the bots' memory, and its ACL file.

A ``redis`` service (Redis 7, the bots' memory) joins every bot network, publishes no port
and runs as the image's ``redis`` user with the same walls, writing only to its
``redis-data`` volume, append-only. Its settings are its command line (``REDIS_SETTINGS``),
so the project needs no file from a Bulkhead checkout. Its ACL file
(``./secrets/redis/users.acl``, written by ``write_memory_secrets``) turns the default user
off and gives each bot a user fenced to its own key prefix; the bot gets only its own
password (``<name>_redis_password``) and the ``BULKHEAD_MEMORY_*`` variables that point the
recorder at ``redis:6379``. A bot with memory waits for Redis to be healthy before it starts.
The order gateway has a user of its own (``gateway``), fenced to the gateway's keys
``bhgw:*`` (every bot's ledger, trading state and decisions; no bot's memory), with the
commands a bot's user has (``acl.BOT_COMMANDS``: reads, writes, scripts, transactions; no
admin command, no SCAN or KEYS).
"""

from __future__ import annotations

import os
import secrets as secrets_module
from pathlib import Path
from typing import Any

from bulkhead.config.models import Fleet
from bulkhead.fleet.containers import BOT_UID, HOST_SECRETS, hardening, logging_options
from bulkhead.plumbing import write_private

REDIS_IMAGE = "redis:7-alpine"
REDIS_VOLUME = "redis-data"
REDIS_ACL_HOST = f"{HOST_SECRETS}/redis/users.acl"
REDIS_ACL_IN_CONTAINER = "/usr/local/etc/redis/users.acl"
#: the only thing the health check may do once the default user is off
REDIS_HEALTH_USER = "healthcheck"
#: the health check: ``-e`` makes an error reply (NOAUTH, NOPERM) fail it, which plain
#: redis-cli would not (it exits 0 on any reply); the user has no password to hide
REDIS_PING = (
    "redis-cli",
    "-e",
    "--no-auth-warning",
    "--user",
    REDIS_HEALTH_USER,
    "--pass",
    "-",
    "ping",
)
MEMORY_PASSWORD_PART = "redis_password"  # noqa: S105 - a file name
#: the order gateway's Redis user, and its password's file under ``secrets/redis/``
GATEWAY_REDIS_USER = "gateway"
GATEWAY_PASSWORD_PART = "gateway_password"  # noqa: S105 - a file name
REDIS_LIMITS = {"cpus": 0.5, "memory": "256m"}
#: Redis's configuration, passed as its command line (``redis-server --name value ...``)
REDIS_SETTINGS = (
    # Every interface *inside the container*, so bots on their networks can connect;
    # nothing outside Docker's networks can, since no port is published.
    ("bind", "0.0.0.0"),  # noqa: S104 - inside the container
    ("port", "6379"),
    ("protected-mode", "yes"),
    # Users: the default user off; each bot confined to bh:{bot}:*; a read-only reader;
    # an admin; and a health-check user allowed only PING.
    ("aclfile", REDIS_ACL_IN_CONTAINER),
    # The append-only file on the service's own volume, fsynced on every write: a crash
    # of Redis loses nothing that was acknowledged.
    ("dir", "/data"),
    ("appendonly", "yes"),
    ("appendfsync", "always"),
    # Below the container's 256m limit, refusing writes when full, instead of being
    # OOM-killed and crash-looping on replay, or silently evicting another bot's memory.
    ("maxmemory", "192mb"),
    ("maxmemory-policy", "noeviction"),
)


def redis_service(bot_networks: list[str], image: str) -> dict[str, Any]:
    settings = [part for name, value in REDIS_SETTINGS for part in (f"--{name}", value)]
    return {
        "image": image,
        "command": ["redis-server", *settings],
        # The image's entrypoint would chown and su-exec as root, which cap_drop ALL
        # forbids; starting as its redis user skips that step.
        "user": "redis",
        **hardening(),
        "deploy": {"resources": {"limits": dict(REDIS_LIMITS)}},
        "volumes": [
            {
                "type": "bind",
                "source": REDIS_ACL_HOST,
                "target": REDIS_ACL_IN_CONTAINER,
                "read_only": True,
                "bind": {"create_host_path": False},
            },
            {"type": "volume", "source": REDIS_VOLUME, "target": "/data"},
        ],
        "networks": bot_networks,
        "healthcheck": {
            "test": ["CMD", *REDIS_PING],
            "interval": "10s",
            "timeout": "5s",
            "retries": 3,
            "start_period": "10s",
        },
        "logging": logging_options(),
    }


def gateway_rule(password: str) -> str:
    """The gateway's ACL user: the gateway's keys only (``bhgw:*``), a bot user's commands."""
    from bulkhead.memory import acl
    from bulkhead.memory.keys import GATEWAY_ROOT
    from bulkhead.memory.server import password_hash

    return (
        f"user {GATEWAY_REDIS_USER} on #{password_hash(password)} resetkeys "
        f"~{GATEWAY_ROOT}:* resetchannels {acl.BOT_COMMANDS}"
    )


def write_memory_secrets(fleet: Fleet, secrets_dir: Path) -> list[Path]:
    """Create what the Redis service, the gateway and the bots need: per-bot passwords
    (kept when they exist), the gateway's, an admin and a reader password, and the ACL file
    built from them (0600 each).

    A bot's password file and the gateway's are read inside their containers by uid 1000:
    written by root, they are handed to that uid (as ``chown 1000`` would); otherwise they
    keep their writer's, which is 1000 for most single-user machines. Returns the files it
    wrote. Lives in ``secrets/``: out of version control.
    """
    from bulkhead.memory import acl

    written: list[Path] = []

    def password(path: Path, *, for_bot: bool) -> str:
        if path.exists():
            return path.read_text().strip()
        value = secrets_module.token_urlsafe(24)
        owner = (BOT_UID, BOT_UID) if for_bot and os.geteuid() == 0 else None
        written.append(write_private(path, value + "\n", owner=owner))
        return value

    bots = {
        bot.name: password(secrets_dir / bot.name / MEMORY_PASSWORD_PART, for_bot=True)
        for bot in fleet.bots
        if bot.memory.enabled
    }
    admin = password(secrets_dir / "redis" / "admin_password", for_bot=False)
    reader = password(secrets_dir / "redis" / "reader_password", for_bot=False)
    gateway = password(secrets_dir / "redis" / GATEWAY_PASSWORD_PART, for_bot=True)
    document = acl.acl_document(admin, reader, bots)
    document += gateway_rule(gateway) + "\n"
    document += f"user {REDIS_HEALTH_USER} on nopass -@all +ping\n"
    acl_path = secrets_dir / "redis" / "users.acl"
    # read by the redis user in its container; hashes only
    written.append(write_private(acl_path, document, 0o644))
    return written
