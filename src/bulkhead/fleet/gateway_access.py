"""How a bot's supervisor reaches the order gateway: its URL and the bot's gateway credential.

On this machine (``runtime: local``) both come from the gateway's folder: the state file
the running gateway writes (where it listens, which bots it serves and why not) and the
bot's credential file (0600). In a container they are given: ``BULKHEAD_GATEWAY_URL`` and
``BULKHEAD_GATEWAY_CREDENTIAL_FILE`` (a Compose secret).

The supervisor never holds the bot's real key: the gateway ran the preflight on it, and a
bot the gateway does not serve is refused here with the gateway's reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
from pydantic import SecretStr

from bulkhead.config.workspace import GatewayPaths
from bulkhead.errors import OperatorError, TemporaryError
from bulkhead.fleet.lease import is_held
from bulkhead.gateway.client import ccxt_config
from bulkhead.gateway.custody import (
    CustodyError,
    GatewayCredential,
    credential_path,
    load_credential,
)

URL_ENV = "BULKHEAD_GATEWAY_URL"
CREDENTIAL_FILE_ENV = "BULKHEAD_GATEWAY_CREDENTIAL_FILE"


class GatewayNotRunning(TemporaryError):
    """No gateway serves this workspace now: start it (``bulkhead up`` does)."""


class GatewayRefusedBot(OperatorError):
    """The gateway runs but will not serve this bot (key unresolved, preflight failed,
    ledger not rebuilt): fix what it says and restart the gateway."""


@dataclass(frozen=True)
class GatewayAccess:
    """What the bot's Freqtrade is given instead of its KuCoin key."""

    url: str
    credential: GatewayCredential

    def credentials(self) -> dict[str, SecretStr]:
        """In the shape of the spec's resolved credentials (``secret_environment``)."""
        return {
            "api_key": SecretStr(self.credential.api_key),
            "secret": SecretStr(self.credential.secret),
            "passphrase": SecretStr(self.credential.passphrase),
        }

    def secrets(self) -> list[str]:
        return [self.credential.secret, self.credential.passphrase]


def read_gateway_state(paths: GatewayPaths) -> dict[str, Any]:
    try:
        loaded = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def gateway_running(paths: GatewayPaths) -> bool:
    """Whether a gateway holds this workspace's gateway lease and says it serves."""
    return is_held(paths.lock) and read_gateway_state(paths).get("state") == "serving"


def local_access(paths: GatewayPaths, bot: str) -> GatewayAccess:
    """The bot's access to the gateway running on this machine, or why there is none."""
    if not gateway_running(paths):
        raise GatewayNotRunning(
            "the order gateway is not running (`bulkhead up` starts it; "
            "`bulkhead gateway` runs it in the foreground)"
        )
    state = read_gateway_state(paths)
    verdict = state.get("bots", {}).get(bot)
    if not isinstance(verdict, dict):
        raise GatewayRefusedBot(
            f"the gateway does not serve {bot}: it was started before the bot was in the "
            "spec; restart it (`bulkhead down` then `bulkhead up`)"
        )
    if not verdict.get("served"):
        raise GatewayRefusedBot(f"the gateway refused {bot}: {verdict.get('reason', '?')}")
    url = str(state.get("url", ""))
    try:
        credential = load_credential(credential_path(paths.root, bot), bot)
    except CustodyError as error:
        raise GatewayRefusedBot(str(error)) from None
    return GatewayAccess(url, credential)


def environment_access(environ: Mapping[str, str], bot: str) -> GatewayAccess | None:
    """The access a container is given whole; None when not given."""
    url = environ.get(URL_ENV)
    pointer = environ.get(CREDENTIAL_FILE_ENV)
    if not url or not pointer:
        return None
    try:
        credential = load_credential(Path(pointer), bot)
    except CustodyError as error:
        raise GatewayRefusedBot(str(error)) from None
    return GatewayAccess(url, credential)


def point_at_gateway(config: dict[str, Any], url: str) -> None:
    """Point a rendered Freqtrade config's exchange at the gateway: spot hosts served,
    every other KuCoin host refused (``gateway.client.ccxt_config``); no websockets, so
    market data too comes through the gateway."""
    overrides = ccxt_config(url)
    config.setdefault("exchange", {}).update(
        {"enable_ws": False, "ccxt_config": overrides, "ccxt_async_config": overrides}
    )
    # where the strategy stack's risk guard reads and asks for the bot's trading state
    config.setdefault("bulkhead", {})["gateway_url"] = url.rstrip("/")


def gateway_client(access: GatewayAccess) -> ccxt.kucoin:
    """A ccxt KuCoin client holding the bot's gateway credential, pointed at the gateway
    (what the supervisor uses before each start to cancel orphaned stop orders)."""
    return ccxt.kucoin(
        {
            **ccxt_config(access.url),
            "apiKey": access.credential.api_key,
            "secret": access.credential.secret,
            "password": access.credential.passphrase,
            "timeout": 10_000,
            "enableRateLimit": False,
        }
    )
