"""Structured, redacted logs: one JSON object per line, with the bot's name and the time.

Every action and decision is a log record with an ``event`` and fields; on a terminal
the same records print as readable lines. Redaction happens in the formatter, the last
step before bytes leave the process, so no code path can forget it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

REDACTED = "***"
#: Values of these fields are dropped whatever they contain.
SECRET_FIELDS = frozenset(
    {"secret", "password", "passphrase", "api_key", "apikey", "key", "token", "jwt_secret_key"}
)
#: KuCoin auth headers, should a request ever be logged whole.
_HEADER_PATTERN = re.compile(r"(KC-API-(?:SIGN|PASSPHRASE|KEY)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+")
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Redactor:
    """Replaces known secret values (and KuCoin auth headers) in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _HEADER_PATTERN.sub(rf"\1{REDACTED}", text)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: (REDACTED if key.lower() in SECRET_FIELDS else value)
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "bot", "logger", "event", ...fields}`` on one line."""

    def __init__(
        self,
        bot: str = "",
        secrets: Iterable[str] = (),
        secret_env: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bot = bot
        # Inside Freqtrade the secrets arrive as environment variables: redact their values.
        from_env = [os.environ.get(name, "") for name in secret_env]
        self.redact = Redactor([*secrets, *from_env])

    def format(self, record: logging.LogRecord) -> str:
        # A record goes to several handlers (the gateway: stderr and its file), each
        # formatting it: the same bot and redactor give the same line, made once.
        made = record.__dict__.get("_json_line")
        if made is not None and made[0] is self.redact and made[1] == self.bot:
            return str(made[2])
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "bot": getattr(record, "bot", None) or self.bot,
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(_fields(record))
        entry.pop("bot_name", None)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        line = self.redact(json.dumps(entry, default=str, ensure_ascii=False))
        record._json_line = (self.redact, self.bot, line)
        return line


class ConsoleFormatter(logging.Formatter):
    """The same records for a human: ``12:00:01 bot1 info  entry_signal pair=XRP/USDT``."""

    def __init__(self, bot: str = "", secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.bot = bot
        self.redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        bot = getattr(record, "bot", None) or self.bot or "-"
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items() if k != "bot")
        line = f"{when} {bot} {record.levelname.lower():<7} {record.getMessage()} {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line.rstrip())


def setup_logging(
    *,
    bot: str = "",
    secrets: Iterable[str] = (),
    json_output: bool | None = None,
    level: int = logging.INFO,
) -> Redactor:
    """Route the root logger to stderr: JSON when not a terminal (or asked), else readable."""
    as_json = (not sys.stderr.isatty()) if json_output is None else json_output
    handler = logging.StreamHandler(sys.stderr)
    formatter: JsonFormatter | ConsoleFormatter = (
        JsonFormatter(bot, secrets) if as_json else ConsoleFormatter(bot, secrets)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return formatter.redact


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one action or decision as a named event with its fields."""
    logger.log(level, name, extra=fields)
