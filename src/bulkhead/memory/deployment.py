"""The deployment's memory: which Redis, which users, and each bot's own connection.

``prepare_memory`` is idempotent and cheap, so both ``bulkhead up`` and every supervisor
call it: the embedded server is started if needed, and the ACL users of the fleet's bots
(plus the read-only operator user) are (re)applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.exceptions

from bulkhead.config.models import Fleet
from bulkhead.config.workspace import Workspace
from bulkhead.memory import acl
from bulkhead.memory.recorder import PASSWORD_ENV, URL_ENV, USER_ENV
from bulkhead.memory.server import Connection, ManagedRedis, MemoryRefused, MemoryUnavailable


@dataclass(frozen=True)
class MemoryAccess:
    admin: Connection
    reader: Connection
    bots: dict[str, Connection]


def redis_dir(workspace: Workspace) -> Path:
    return workspace.root / "redis"


def embedded(fleet: Fleet, workspace: Workspace) -> ManagedRedis | None:
    if fleet.memory.redis_url:
        return None
    return ManagedRedis(redis_dir(workspace), fsync=fleet.memory.fsync)


def admin_connection(
    fleet: Fleet, workspace: Workspace, environ: Mapping[str, str] | None = None
) -> Connection:
    server = embedded(fleet, workspace)
    if server is not None:
        return server.ensure_running()
    assert fleet.memory.redis_url is not None
    password = ""
    if fleet.memory.admin_password is not None:
        password = fleet.memory.admin_password.resolve(environ).get_secret_value()
    return Connection(fleet.memory.redis_url, fleet.memory.admin_username, password)


def prepare_memory(
    fleet: Fleet, workspace: Workspace, environ: Mapping[str, str] | None = None
) -> MemoryAccess:
    """Start (embedded) Redis if needed and apply one ACL user per bot with memory on.

    redis-py's and the OS's errors are translated here: an unreachable server is
    ``MemoryUnavailable`` (try again), a refused admin user ``MemoryRefused`` (fix it).
    """
    try:
        return _prepare_memory(fleet, workspace, environ)
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as error:
        raise MemoryRefused(f"memory: Redis refused the admin user: {error}") from error
    except redis.ResponseError as error:
        if "NOPERM" in str(error) or "WRONGPASS" in str(error):
            raise MemoryRefused(f"memory: Redis refused the admin user: {error}") from error
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
        raise MemoryUnavailable(
            f"memory: cannot reach Redis ({type(error).__name__}: {error})"
        ) from error


def _prepare_memory(
    fleet: Fleet, workspace: Workspace, environ: Mapping[str, str] | None
) -> MemoryAccess:
    admin = admin_connection(fleet, workspace, environ)
    reader_password = acl.load_or_create_password(redis_dir(workspace) / "reader.json")
    passwords = {
        bot.name: acl.load_or_create_password(workspace.bot(bot.name).root / "memory.json")
        for bot in fleet.bots
        if bot.memory.enabled
    }
    client = admin.client(socket_timeout=5)
    rules = [acl.reader_rule(reader_password)] + [
        acl.bot_rule(bot, password) for bot, password in passwords.items()
    ]
    for rule in rules:
        # "user NAME ..." -> ACL SETUSER NAME ...
        _, name, *tokens = rule.split()
        # One command, so a running bot never sees its user half-applied.
        client.execute_command("ACL", "SETUSER", name, "reset", *tokens)  # type: ignore[no-untyped-call]
    server = embedded(fleet, workspace)
    if server is not None:
        client.execute_command("ACL", "SAVE")  # type: ignore[no-untyped-call]
    return MemoryAccess(
        admin=admin,
        reader=Connection(admin.url, acl.READER_USER, reader_password),
        bots={bot: Connection(admin.url, acl.bot_user(bot), pw) for bot, pw in passwords.items()},
    )


def stop_embedded(fleet: Fleet, workspace: Workspace) -> bool:
    server = embedded(fleet, workspace)
    return server.stop() if server is not None else False


def connection_from_environment(environ: Mapping[str, str]) -> Connection | None:
    """A bot's memory connection given to it whole (``BULKHEAD_MEMORY_URL``, ``_USER`` and
    ``_PASSWORD`` or ``_PASSWORD_FILE``), as Compose does; None when not given."""
    url = environ.get(URL_ENV)
    if not url:
        return None
    password = environ.get(PASSWORD_ENV, "")
    pointer = environ.get(f"{PASSWORD_ENV}_FILE")
    if not password and pointer:
        password = Path(pointer).read_text().strip()
    return Connection(url, environ.get(USER_ENV, ""), password)
