"""Redis ACL users: one per bot, fenced to its own key prefix, plus a read-only operator.

A bot's user may read and write only ``bh:{<bot>}:*`` and run only the commands its
recorder needs (no SCAN or KEYS, so it cannot even list another bot's key names; no admin
commands). The operator's read-only user reads every bot's memory for ``memory show`` and
``export``; imports and pruning use the deployment's admin user.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from bulkhead.memory.keys import ROOT, BotKeys
from bulkhead.memory.server import ADMIN_USER, DEFAULT_RULE, password_hash
from bulkhead.plumbing import write_private

READER_USER = "bulkhead-reader"
#: The default user cannot log in ("off", no password), but keeps its permissions: Redis 7
#: replays MULTI/EXEC from the append-only file as the default user, and without them it
#: drops every scripted write on restart (redis/redis#14541).
BOT_COMMANDS = (
    "-@all +@connection +@read +@write +@stream +@hash +@sortedset +@string "
    "+eval +evalsha +script|load +script|exists +multi +exec +discard "
    "-@dangerous -scan -keys -randomkey"
)
READER_COMMANDS = "-@all +@connection +@read -keys +memory|usage"


def bot_user(bot: str) -> str:
    return f"bot-{bot}"


def bot_rule(bot: str, password: str) -> str:
    keys = BotKeys(bot)
    return (
        f"user {bot_user(bot)} on #{password_hash(password)} resetkeys "
        f"~{keys.pattern} resetchannels {BOT_COMMANDS}"
    )


def reader_rule(password: str) -> str:
    return f"user {READER_USER} on #{password_hash(password)} resetkeys ~{ROOT}:* {READER_COMMANDS}"


def admin_rule(password: str) -> str:
    return f"user {ADMIN_USER} on #{password_hash(password)} ~* &* +@all"


def acl_document(admin_password: str, reader_password: str, bots: dict[str, str]) -> str:
    """The whole ACL file: default user off, admin, reader, one user per bot."""
    lines = [DEFAULT_RULE, admin_rule(admin_password), reader_rule(reader_password)]
    lines += [bot_rule(bot, password) for bot, password in sorted(bots.items())]
    return "\n".join(lines) + "\n"


def load_or_create_password(path: Path) -> str:
    """A user's password, generated once and kept in a 0600 file."""
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored["password"]
    password = secrets.token_urlsafe(24)
    write_private(path, json.dumps({"password": password}))
    return password


def rules_for_display(bots: Iterable[str]) -> list[str]:
    """The rules with placeholder password hashes: what ``memory acl`` prints."""
    return [
        bot_rule(bot, "<password>").replace(password_hash("<password>"), "<sha256>") for bot in bots
    ]
