"""Run inside a bot's container (``python -c``): what its Redis login may and may not do.

argv: this bot's name, another bot's name. Prints one JSON object: each attempt -> "ok" or
the class of redis-py's error for Redis's refusal (NoPermissionError for NOPERM,
AuthenticationError for WRONGPASS and NOAUTH).
"""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

me, other = sys.argv[1], sys.argv[2]
url = os.environ["BULKHEAD_MEMORY_URL"]
user = os.environ["BULKHEAD_MEMORY_USER"]
password = Path(os.environ["BULKHEAD_MEMORY_PASSWORD_FILE"]).read_text().strip()


def attempt(action: Callable[[], Any]) -> str:
    try:
        action()
    except (redis.ResponseError, redis.AuthenticationError) as error:
        return type(error).__name__
    return "ok"


def login(username: str | None, secret: str | None) -> redis.Redis:
    return redis.Redis.from_url(url, username=username, password=secret, socket_timeout=5)


own = login(user, password)
mine, theirs = f"bh:{{{me}}}:acl-probe", f"bh:{{{other}}}:acl-probe"
results = {
    "own write": attempt(lambda: own.set(mine, "1", ex=60)),
    "own read": attempt(lambda: own.get(mine)),
    "own delete": attempt(lambda: own.delete(mine)),
    "other read": attempt(lambda: own.get(theirs)),
    "other write": attempt(lambda: own.set(theirs, "1")),
    "keys": attempt(lambda: own.keys("*")),
    "scan": attempt(lambda: own.scan(0)),
    "flushall": attempt(lambda: own.flushall()),
    "acl list": attempt(lambda: own.acl_list()),
    "config get": attempt(lambda: own.config_get("*")),
    "no login": attempt(lambda: login(None, None).ping()),
    "as default": attempt(lambda: login("default", password).ping()),
    "as the other bot": attempt(lambda: login(f"bot-{other}", password).ping()),
    "as admin": attempt(lambda: login("bulkhead-admin", password).ping()),
    "as reader": attempt(lambda: login("bulkhead-reader", password).ping()),
}
print(json.dumps(results))
