"""The pieces of ``bulkhead demo`` that are not printing: the demo's spec and .env beside
it, and the bot's latest decisions read from its logs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkhead.config.workspace import BotPaths
from bulkhead.plumbing import write_private

#: the twin URL bulkhead.yaml's template names; the demo's twin listens elsewhere
TEMPLATE_TWIN_URL = "http://127.0.0.1:8899"
#: the log events the demo shows: the bot's decisions and what became of them
SHOWN_EVENTS = (
    "gateway_access",
    "entry_signal",
    "order_filled",
    "exit_signal",
    "freqtrade_crashed",
)
#: the fields of a shown event, in the order shown
SHOWN_FIELDS = ("pair", "reason", "side", "amount", "price", "passed")


#: the demo's advisor: the fake provider on this machine, consulted every 30 s
DEMO_ADVISOR = """
advisor:
  provider: {{kind: openai, model: gpt-4o-mini, api_key: {{env: DEMO_LLM_API_KEY}},
             base_url: "{url}", timeout_seconds: 5}}
  every_minutes: 0.5
"""


def write_demo_spec(
    directory: Path,
    template: str,
    twin_url: str,
    credential: dict[str, str],
    advisor: tuple[str, str] | None = None,
) -> Path:
    """bulkhead.yaml (``template`` pointed at ``twin_url``) and, owner-only from its first
    byte, the .env holding bot1's key (``credential``: the twin's apiKey, secret,
    passphrase) in ``directory``; the spec's path. ``advisor``: the URL and key of an LLM
    provider (the fake) that bot1's advisor consults, its key in the .env too."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "bulkhead.yaml"
    text = template.replace(TEMPLATE_TWIN_URL, twin_url)
    env = (
        f"BOT1_KUCOIN_API_KEY={credential['apiKey']}\n"
        f"BOT1_KUCOIN_API_SECRET={credential['secret']}\n"
        f"BOT1_KUCOIN_API_PASSPHRASE={credential['passphrase']}\n"
    )
    if advisor is not None:
        url, key = advisor
        text = re.sub(
            r"^(    memory: \{\}.*)$",
            r"\1\n    advisor: {enabled: true}",
            text,
            count=1,
            flags=re.M,
        )
        text += DEMO_ADVISOR.format(url=url)
        env += f"DEMO_LLM_API_KEY={key}\n"
    spec.write_text(text)
    write_private(directory / ".env", env)
    return spec


@dataclass(frozen=True)
class LoggedEvent:
    #: HH:MM:SS of the event's time
    time: str
    event: str
    #: the SHOWN_FIELDS it has, in that order
    fields: dict[str, Any]


def recent_events(log: Path, count: int = 6) -> list[LoggedEvent]:
    """The last ``count`` shown events of a JSON-lines log (other lines skipped)."""
    if not log.exists():
        return []
    shown = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("event") not in SHOWN_EVENTS:
            continue
        fields = {k: entry[k] for k in SHOWN_FIELDS if entry.get(k) is not None}
        shown.append(LoggedEvent(str(entry.get("time"))[11:19], entry["event"], fields))
    return shown[-count:]


def recent_decisions(paths: BotPaths, count: int = 8) -> list[LoggedEvent]:
    """The bot's latest decisions: from its supervisor's log, then Freqtrade's (the last
    six of each), the last ``count`` of them."""
    return (recent_events(paths.log) + recent_events(paths.freqtrade_log))[-count:]
