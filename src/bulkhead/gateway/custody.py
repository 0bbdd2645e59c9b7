"""Key custody: each bot's real KuCoin key stays here; the bot holds only a gateway credential.

A gateway credential is a random key id, secret and passphrase per bot, generated once and
kept owner-only (0600) in the gateway's folder. It is worthless anywhere but this gateway:
KuCoin has never heard of it, and the gateway accepts it only with a request signed by its
secret, exactly as KuCoin checks its own keys. Behind it, the gateway holds the bot's real
key, resolved from the spec's references (env or files), and signs the forwarded request
with that.

Nothing here prints or logs a secret: the credentials' ``repr`` hides them, and
``Custody.secrets()`` hands every one to the log redactor.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bulkhead.config.credentials import resolve_credentials
from bulkhead.config.models import Bot
from bulkhead.errors import OperatorError
from bulkhead.plumbing import write_private

#: The file of one bot's gateway credential, in the gateway's folder.
CREDENTIAL_FILE = "{bot}.gateway-credential.json"


class CustodyError(OperatorError):
    """A gateway credential file that cannot be trusted or read: stop and tell the operator
    (fix or delete the file; a deleted one is generated anew, and the bot must get the new
    one)."""


@dataclass(frozen=True)
class GatewayCredential:
    """What a bot's Freqtrade holds instead of its KuCoin key (a ``signing.Credential``)."""

    bot: str
    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)

    @classmethod
    def generate(cls, bot: str) -> GatewayCredential:
        """Fresh random values, shaped like KuCoin's (24 hex digits, a UUID, a passphrase)."""
        return cls(
            bot=bot,
            api_key=secrets.token_hex(12),
            secret=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
            passphrase=secrets.token_urlsafe(18),
        )

    def as_json(self) -> str:
        return json.dumps(
            {
                "bot": self.bot,
                "api_key": self.api_key,
                "secret": self.secret,
                "passphrase": self.passphrase,
            },
            indent=2,
        )


@dataclass(frozen=True)
class RealKey:
    """The bot's KuCoin key, as the spec's references resolve it; never leaves the gateway."""

    api_key: SecretStr
    secret: SecretStr
    passphrase: SecretStr

    @classmethod
    def of(cls, parts: Mapping[str, SecretStr]) -> RealKey:
        return cls(parts["api_key"], parts["secret"], parts["passphrase"])


@dataclass(frozen=True)
class Custody:
    """Every bot's gateway credential, by its key id, and every bot's real key, by bot."""

    credentials: Mapping[str, GatewayCredential]
    real_keys: Mapping[str, RealKey]

    @classmethod
    def of(cls, pairs: Iterable[tuple[GatewayCredential, RealKey]]) -> Custody:
        credentials: dict[str, GatewayCredential] = {}
        real_keys: dict[str, RealKey] = {}
        for credential, real in pairs:
            if credential.bot in real_keys:
                raise CustodyError(f"bot {credential.bot}: two gateway credentials")
            credentials[credential.api_key] = credential
            real_keys[credential.bot] = real
        return cls(credentials, real_keys)

    def real_key(self, bot: str) -> RealKey:
        return self.real_keys[bot]

    def secrets(self) -> list[str]:
        """Every secret held, for the log redactor: real ones and gateway ones."""
        found: list[str] = []
        for credential in self.credentials.values():
            found += [credential.secret, credential.passphrase]
        for real in self.real_keys.values():
            found += [real.api_key.get_secret_value(), real.secret.get_secret_value()]
            found.append(real.passphrase.get_secret_value())
        return found


def credential_path(folder: Path, bot: str) -> Path:
    return folder / CREDENTIAL_FILE.format(bot=bot)


def gateway_credential(folder: Path, bot: str) -> GatewayCredential:
    """The bot's gateway credential from ``folder``, generated (0600) on first use.

    A file others may read or write is refused rather than used: its secret may be known.
    """
    path = credential_path(folder, bot)
    if not path.exists() and not path.is_symlink():
        credential = GatewayCredential.generate(bot)
        write_private(path, credential.as_json())
        return credential
    return load_credential(path, bot)


def load_credential(path: Path, bot: str) -> GatewayCredential:
    """A gateway credential file as the bot's supervisor reads it: never generated here
    (only the gateway makes them), refused when others may read or write it."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise CustodyError(f"{path}: no gateway credential (the gateway writes it)") from None
    if not stat.S_ISREG(info.st_mode):
        raise CustodyError(f"{path}: not a regular file")
    if info.st_mode & 0o077 or info.st_uid != os.getuid():
        raise CustodyError(
            f"{path}: readable or writable by others (mode {stat.S_IMODE(info.st_mode):o}); "
            "delete it to generate a new one"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        credential = GatewayCredential(
            bot=str(data["bot"]),
            api_key=str(data["api_key"]),
            secret=str(data["secret"]),
            passphrase=str(data["passphrase"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CustodyError(f"{path}: not a gateway credential ({type(error).__name__})") from None
    if credential.bot != bot:
        raise CustodyError(f"{path}: holds bot {credential.bot}'s credential, not {bot}'s")
    return credential


def custody_for(
    bots: Iterable[Bot],
    folder: Path,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Custody:
    """Each bot's gateway credential (kept in ``folder``) with its real key from the spec."""
    return Custody.of(
        (
            gateway_credential(folder, bot.name),
            RealKey.of(resolve_credentials(bot, environ, base_dir)),
        )
        for bot in bots
    )
