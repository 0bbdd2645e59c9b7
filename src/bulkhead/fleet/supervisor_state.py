"""What a supervisor learns and changes while it runs, apart from its frozen settings.

A stop is a request counted here, nothing more: the signal handler (or any thread) only
increments ``stop_requests``; the supervisor's own loop acts on it (SIGINT to Freqtrade on
the first, its process group killed on the second or once the grace period is over), so
no handler ever blocks, signals a child or writes a log line.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.lease import Lease


@dataclass
class SupervisorState:
    #: this run's restart delays (a copy of the settings' policy)
    backoff: Backoff
    #: how many times a stop was asked for; 1 stops gracefully, 2 or more forces it
    stop_requests: int = 0
    #: whether the loop has logged the stop request (it logs, the handler never does)
    stop_logged: bool = False
    child: subprocess.Popen[bytes] | None = None
    lease: Lease | None = None
    restarts: int = 0
    #: runs in a row that died before trading, or soon after it
    quick_failures: int = 0
    #: the bot's own variables for Freqtrade (secrets, memory), on top of the allowlist
    child_env: dict[str, str] = field(default_factory=dict)
    last_heal: float = 0.0
    #: when the gateway may next be checked (monotonic)
    next_gateway_check: float = 0.0
    #: when the bot's metrics are next computed from its memory and logged
    next_metrics: float = 0.0
    #: runs before every start of Freqtrade (live: cancel stop orders it does not know)
    before_start: Callable[[], None] | None = None
    #: the state last written to the status file
    last_state: str = ""

    @property
    def stopping(self) -> bool:
        return self.stop_requests > 0

    @property
    def forced(self) -> bool:
        return self.stop_requests > 1

    def request_stop(self) -> None:
        """Safe in a signal handler: one integer increment."""
        self.stop_requests += 1
