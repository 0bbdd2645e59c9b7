"""A bot's exchange key, secret and passphrase, resolved from the references in its spec."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from bulkhead.config.models import Bot

CREDENTIAL_PARTS = ("api_key", "secret", "passphrase")


def resolve_credentials(
    bot: Bot, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> dict[str, SecretStr]:
    """The bot's key, secret and passphrase from their references (env or files)."""
    refs = bot.credentials
    return {
        part: getattr(refs, part).resolve(
            environ, base_dir, label=f"bot {bot.name}: credentials.{part}"
        )
        for part in CREDENTIAL_PARTS
    }
