"""What every container of a fleet's Compose project shares: its user, its walls, its logs,
and where secrets are on the host and in the container."""

from __future__ import annotations

from typing import Any

#: the uid of the image's ``ftuser``, which must be able to read each bot's secret files
BOT_UID = 1000

#: the image's non-root ``ftuser``; explicit so a different base image cannot run as root
BOT_USER = f"{BOT_UID}:{BOT_UID}"
SECRETS_IN_CONTAINER = "/run/secrets"
#: host folder of the secret files, relative to the compose file (not version-controlled)
HOST_SECRETS = "./secrets"
#: where every container of the Bulkhead image sees the spec; the workspace derives from it
SPEC_IN_CONTAINER = "/config/bulkhead.yaml"
#: ``Workspace.for_spec(SPEC_IN_CONTAINER).root``: a bot's (or the gateway's) only
#: writable directory, its volume
WORKSPACE_IN_CONTAINER = "/config/.bulkhead"


def hardening() -> dict[str, Any]:
    """The walls every container gets (a fresh copy each time: services share nothing)."""
    return {
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "restart": "unless-stopped",
    }


def logging_options() -> dict[str, Any]:
    """Bounded log files, so a chatty container cannot fill the host's disk."""
    return {"driver": "json-file", "options": {"max-size": "10m", "max-file": "5"}}
