"""Supervise one bot: lease, credentials, preflight, rendered config, Freqtrade, restarts.

``bulkhead run-bot`` runs this in the foreground (in a container, or detached by
``bulkhead up``). Live trading never starts without a passing preflight; a crash of
Freqtrade is restarted with backoff; SIGTERM or Ctrl-C stops Freqtrade gracefully (it
gets SIGINT, as from a terminal) and then releases the lease.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from pydantic import SecretStr

from bulkhead.config.models import Bot
from bulkhead.config.render import (
    render_freqtrade_config,
    resolve_credentials,
    secret_environment,
    write_private,
)
from bulkhead.config.secrets import SecretResolutionError
from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.lease import Lease, LeaseHeld
from bulkhead.fleet.orphans import cleanup_before_start
from bulkhead.logs import Redactor, event
from bulkhead.memory.recorder import (
    EVENTS_DAYS_ENV,
    PASSWORD_ENV,
    RECONCILE_ENV,
    RETENTION_ENV,
    URL_ENV,
    USER_ENV,
)
from bulkhead.memory.server import Connection

logger = logging.getLogger("bulkhead.supervisor")

#: exit codes of ``run-bot``, so ``up`` and Compose can tell why a bot did not run
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_PREFLIGHT = 3
EXIT_ALREADY_RUNNING = 4
GRACE_S = 30.0
HEAL_EVERY_S = 5.0


class Report(Protocol):
    @property
    def passed(self) -> bool: ...

    def as_dict(self) -> dict[str, Any]: ...


Preflight = Callable[[Bot, Mapping[str, SecretStr]], Report]


def default_preflight(bot: Bot, credentials: Mapping[str, SecretStr]) -> Report:
    from bulkhead.exchange.preflight import make_client, run_preflight

    return run_preflight(bot, make_client(bot, credentials))


@dataclass
class Supervisor:
    bot: Bot
    paths: BotPaths
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets_dir: Path | None = None
    preflight: Preflight = default_preflight
    freqtrade: list[str] = field(default_factory=lambda: [sys.executable, "-m", "freqtrade"])
    #: where Freqtrade's stdout/stderr go; None inherits ours (containers, foreground)
    child_output: Path | None = None
    backoff: Backoff = field(default_factory=Backoff)
    redactor: Redactor = field(default_factory=Redactor)
    _stopping: bool = False
    _child: subprocess.Popen[bytes] | None = None
    _restarts: int = 0
    _child_env: dict[str, str] = field(default_factory=dict)
    #: the bot's own memory connection (ACL user), prepared on start; None: memory off
    memory: Callable[[], Connection] | None = None
    #: keeps an embedded Redis alive while the bot runs (restarts it if it died)
    memory_heal: Callable[[], bool] | None = None
    _last_heal: float = 0.0
    #: runs before every start of Freqtrade (live: cancel stop orders it does not know)
    _before_start: Callable[[], None] | None = None
    _last_state: str = ""

    # -- entry point --------------------------------------------------------------------

    def run(self) -> int:
        lease = Lease(self.paths.lock)
        try:
            lease.acquire()
        except LeaseHeld as error:
            event(logger, "supervisor_refused", logging.ERROR, reason=str(error))
            return EXIT_ALREADY_RUNNING
        previous = self._install_signals()
        try:
            return self._run_leased()
        finally:
            self._restore_signals(previous)
            if self._last_state != "refused":  # a refusal and its reason outlive us
                self._write_status("stopped")
            lease.release()
            event(logger, "supervisor_stop", restarts=self._restarts)

    def _run_leased(self) -> int:
        event(
            logger,
            "supervisor_start",
            mode=self.bot.mode,
            pid=os.getpid(),
            subaccount=self.bot.subaccount,
            budget=str(self.bot.budget.amount),
        )
        self._write_status("starting")
        try:
            credentials = resolve_credentials(self.bot, self.environ, self.secrets_dir)
        except SecretResolutionError as error:
            event(logger, "credentials_missing", logging.ERROR, reason=str(error))
            self._write_status("refused", reason=str(error))
            return EXIT_CONFIG
        for secret in credentials.values():
            self.redactor.add(secret.get_secret_value())
        if self.bot.mode == "live":
            self._write_status("preflight")
            report = self.preflight(self.bot, credentials)
            event(logger, "preflight", passed=report.passed, report=report.as_dict())
            if not report.passed:
                event(
                    logger,
                    "preflight_refused",
                    logging.ERROR,
                    reason="live trading refused: the key failed preflight",
                )
                self._write_status("refused", reason="preflight failed")
                return EXIT_PREFLIGHT
        else:
            event(logger, "preflight_skipped", reason="dry-run")
        self.paths.user_data.mkdir(parents=True, exist_ok=True)
        try:
            self._child_env = secret_environment(self.paths, credentials)
        except ValueError as error:
            event(logger, "credentials_unusable", logging.ERROR, reason=str(error))
            self._write_status("refused", reason=str(error))
            return EXIT_CONFIG
        self._child_env.update(self._memory_environment())
        for value in self._child_env.values():
            self.redactor.add(value)
        if self.bot.mode == "live":
            self._before_start = lambda: cleanup_before_start(
                self.bot, credentials, self.paths.database
            )
        config = render_freqtrade_config(self.bot, self.paths)
        write_private(self.paths.config, config)
        event(
            logger,
            "config_rendered",
            path=str(self.paths.config),
            mode="0600",
            stake_amount=config["stake_amount"],
            available_capital=config["available_capital"],
        )
        return self._keep_running()

    def _memory_environment(self) -> dict[str, str]:
        """Where the recorder inside Freqtrade writes; memory trouble never stops the bot."""
        if self.memory is None or not self.bot.memory.enabled:
            event(logger, "memory_off")
            return {}
        try:
            connection = self.memory()
        except Exception as error:  # any failure here must leave trading possible
            event(
                logger,
                "memory_unavailable",
                logging.WARNING,
                error=type(error).__name__,
                detail=str(error)[:200],
            )
            return {}
        event(logger, "memory_ready", user=connection.username)
        retention = self.bot.memory.retention
        return {
            URL_ENV: connection.url,
            USER_ENV: connection.username,
            PASSWORD_ENV: connection.password,
            EVENTS_DAYS_ENV: str(retention.events_days),
            RECONCILE_ENV: str(self.bot.memory.reconcile_every_s),
            RETENTION_ENV: retention.model_dump_json(),
        }

    def _heal_memory(self) -> None:
        if self.memory_heal is None or time.monotonic() - self._last_heal < HEAL_EVERY_S:
            return
        self._last_heal = time.monotonic()
        try:
            if self.memory_heal():
                event(logger, "memory_server_restarted", logging.WARNING)
        except Exception as error:  # keep supervising Freqtrade whatever Redis does
            event(logger, "memory_heal_failed", logging.WARNING, error=type(error).__name__)

    # -- the Freqtrade child ------------------------------------------------------------

    def _keep_running(self) -> int:
        while not self._stopping:
            started = time.monotonic()
            code = self._run_child()
            if self._stopping:
                break
            delay = self.backoff.next_delay(time.monotonic() - started)
            self._restarts += 1
            event(
                logger,
                "freqtrade_crashed",
                logging.ERROR,
                exit_code=code,
                restart_in_s=delay,
                restarts=self._restarts,
            )
            self._write_status("backoff", last_exit=code)
            deadline = time.monotonic() + delay
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(0.2)
        return EXIT_OK

    def _run_child(self) -> int:
        if self._before_start is not None:
            self._before_start()
        command = [*self.freqtrade, "trade", "--config", str(self.paths.config)]
        output = None
        if self.child_output is not None:
            self.child_output.parent.mkdir(parents=True, exist_ok=True)
            output = self.child_output.open("ab")
        try:
            self._child = subprocess.Popen(  # noqa: S603 - our own interpreter and config
                command,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**_inherited_environment(), **self._child_env},
            )
            event(logger, "freqtrade_started", pid=self._child.pid)
            self._write_status("running", child_pid=self._child.pid)
            while True:
                try:
                    code = self._child.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    self._heal_memory()
                    continue
            event(logger, "freqtrade_exited", exit_code=code, stopping=self._stopping)
            return code
        finally:
            self._child = None
            if output is not None:
                output.close()

    def stop(self) -> None:
        """Ask Freqtrade to stop as Ctrl-C would; kill it if it ignores us for too long."""
        if self._stopping:
            return
        self._stopping = True
        event(logger, "stop_requested")
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            event(logger, "freqtrade_killed", logging.WARNING, after_s=GRACE_S)
            child.kill()

    # -- plumbing -----------------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop()

        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _write_status(self, state: str, **details: Any) -> None:
        self._last_state = state
        status = {
            "bot": self.bot.name,
            "state": state,
            "pid": os.getpid(),
            "restarts": self._restarts,
            "since": time.time(),
            **details,
        }
        self.paths.status.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.paths.status.with_suffix(".tmp")
        temporary.write_text(json.dumps(status))
        temporary.replace(self.paths.status)


def _inherited_environment() -> dict[str, str]:
    """Our environment for Freqtrade, minus pytest's markers: with ``PYTEST_VERSION`` set,
    Freqtrade skips its log configuration, and with it our JSON formatter and redaction."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
