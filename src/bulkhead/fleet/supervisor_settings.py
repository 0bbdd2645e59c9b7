"""What a supervisor is told before it starts: frozen, built once by ``run-bot``.

Everything that changes while it runs (the child, the stop requests, the failure count,
the backoff's current delay) lives in ``supervisor_state``; nothing here is written after
construction. The exit codes are ``run-bot``'s, so ``up`` and Compose can tell why a bot
did not run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkhead.config.models import Bot
from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.ftapi import is_trading
from bulkhead.fleet.gateway_access import GatewayAccess
from bulkhead.freqtrade.config import render_freqtrade_config
from bulkhead.logs import Redactor
from bulkhead.memory.server import Connection

#: exit codes of ``run-bot``, so ``up`` and Compose can tell why a bot did not run
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_PREFLIGHT = 3
EXIT_ALREADY_RUNNING = 4
EXIT_FAILING = 5
#: how long Freqtrade gets to stop after SIGINT before its process group is killed
GRACE_S = 30.0
#: how often an embedded Redis is checked (and restarted when it died)
HEAL_EVERY_S = 5.0
#: how often a running bot's metrics are computed from its memory and logged (the later
#: dashboard reads them from the log and the bot's events)
METRICS_EVERY_S = 300.0
#: after a failed start of the gateway, the wait before the next try (each try runs the
#: preflight against the exchange)
GATEWAY_RETRY_S = 60.0
#: how often the health check asks whether Freqtrade trades yet
HEALTH_EVERY_S = 1.0
#: consecutive runs that died before trading (or soon after) before the supervisor gives up
MAX_QUICK_FAILURES = 5


#: how the supervisor reaches the order gateway (``gateway_access``): the URL and the
#: bot's gateway credential, or an error saying why there is none
GatewayLookup = Callable[[], GatewayAccess]


def freqtrade_command() -> tuple[str, ...]:
    """Freqtrade as installed beside Bulkhead: our own interpreter, its module."""
    return (sys.executable, "-m", "freqtrade")


@dataclass(frozen=True)
class SupervisorSettings:
    """One bot's supervision, fixed for the supervisor's life.

    The callables are the seams a test replaces: ``freqtrade`` (a stand-in command),
    ``healthy`` (whether the child trades yet), ``gateway``, ``render``.
    """

    bot: Bot
    paths: BotPaths
    #: the order gateway Freqtrade trades through (it holds the real key and ran the
    #: preflight on it); None: no exchange credential at all, and live trading is refused
    gateway: GatewayLookup | None = None
    #: the command before ``trade --config CONFIG``
    freqtrade: tuple[str, ...] = field(default_factory=freqtrade_command)
    #: where Freqtrade's stdout/stderr go; None inherits ours (containers, foreground)
    child_output: Path | None = None
    #: the restart delays; each run of the supervisor counts on a copy of its own
    backoff: Backoff = field(default_factory=Backoff)
    #: shared with logging: the supervisor adds the bot's secrets to it once resolved
    redactor: Redactor = field(default_factory=Redactor)
    #: whether the child trades yet (its trading loop ran); Freqtrade's REST API by default
    healthy: Callable[[BotPaths], bool] = is_trading
    #: the process environment the child's allowlisted variables come from
    inherited: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    max_quick_failures: int = MAX_QUICK_FAILURES
    grace_s: float = GRACE_S
    health_every_s: float = HEALTH_EVERY_S
    #: the bot's own memory connection (ACL user), prepared on start; None: memory off
    memory: Callable[[], Connection] | None = None
    #: keeps an embedded Redis alive while the bot runs (restarts it if it died)
    memory_heal: Callable[[], bool] | None = None
    #: keeps the local order gateway serving while the bot runs (starts it again if it
    #: died: without it the bot can neither enter nor exit); None in containers, where
    #: Compose restarts it
    gateway_heal: Callable[[], bool] | None = None
    #: one consultation of the LLM advisor about this bot (None: the advisor is off)
    advise: Callable[[], Any] | None = None
    advise_every_s: float = 3600.0
    #: the bot's Freqtrade config, its strategy files written (run-bot: the strategy stack)
    render: Callable[[Bot, BotPaths], dict[str, Any]] = render_freqtrade_config

    def __post_init__(self) -> None:
        if self.max_quick_failures < 1:
            raise ValueError(
                f"max_quick_failures must be at least 1, not {self.max_quick_failures}"
            )
        if self.grace_s < 0:
            raise ValueError(f"grace_s must not be negative, not {self.grace_s}")
        # a list given by a caller becomes a tuple: the command cannot change under us
        object.__setattr__(self, "freqtrade", tuple(self.freqtrade))

    def command(self) -> list[str]:
        """The child's command line."""
        return [*self.freqtrade, "trade", "--config", str(self.paths.config)]
