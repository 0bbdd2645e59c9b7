"""Supervise one bot: lease, credentials, preflight, rendered config, Freqtrade, restarts.

``bulkhead run-bot`` runs this in the foreground (in a container, or detached by
``bulkhead up``). Live trading never starts without a passing preflight; a crash of
Freqtrade is restarted with backoff; SIGTERM or Ctrl-C stops Freqtrade gracefully (it
gets SIGINT, as from a terminal) and then releases the lease.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
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
from bulkhead.fleet.environment import child_environment
from bulkhead.fleet.ftapi import is_trading
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
EXIT_FAILING = 5
GRACE_S = 30.0
HEAL_EVERY_S = 5.0
HEALTH_EVERY_S = 1.0
#: consecutive runs that died before trading (or soon after) before the supervisor gives up
MAX_QUICK_FAILURES = 5


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
    #: whether the child trades yet (its trading loop ran); Freqtrade's REST API by default
    healthy: Callable[[BotPaths], bool] = is_trading
    #: the process environment the child's allowlisted variables come from
    inherited: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    max_quick_failures: int = MAX_QUICK_FAILURES
    grace_s: float = GRACE_S
    #: the bot's own memory connection (ACL user), prepared on start; None: memory off
    memory: Callable[[], Connection] | None = None
    #: keeps an embedded Redis alive while the bot runs (restarts it if it died)
    memory_heal: Callable[[], bool] | None = None
    #: the bot's Freqtrade config, its strategy files written (run-bot: the strategy stack)
    render: Callable[[Bot, BotPaths], dict[str, Any]] = render_freqtrade_config
    _stopping: bool = False
    _child: subprocess.Popen[bytes] | None = None
    _lease: Lease | None = None
    _restarts: int = 0
    _quick_failures: int = 0
    _child_env: dict[str, str] = field(default_factory=dict)
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
        self._lease = lease
        previous = self._install_signals()
        try:
            return self._run_leased()
        finally:
            self._restore_signals(previous)
            if self._last_state not in ("refused", "failed"):  # their reason outlives us
                self._write_status("stopped")
            lease.release()
            self._lease = None
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
        config = self.render(self.bot, self.paths)
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
        """Run Freqtrade until told to stop; restart it with backoff when it dies, and give
        up after ``max_quick_failures`` runs in a row that died early: a bot that cannot
        stay up (a strategy that crashes at start, a config Freqtrade refuses) is reported
        as failed, with the reason, instead of being restarted forever."""
        while not self._stopping:
            started = time.monotonic()
            started_at = time.time()
            code, traded = self._run_child()
            if self._stopping:
                break
            lasted = time.monotonic() - started
            if traded and lasted >= self.backoff.calm_after_s:
                self._quick_failures = 0
            self._quick_failures += 1
            reason = self._exit_reason(code, started_at)
            if self._quick_failures >= self.max_quick_failures:
                event(
                    logger,
                    "freqtrade_failing",
                    logging.CRITICAL,
                    exit_code=code,
                    failures=self._quick_failures,
                    reason=reason,
                )
                self._write_status(
                    "failed",
                    last_exit=code,
                    failures=self._quick_failures,
                    reason=f"gave up after {self._quick_failures} failed starts: {reason}",
                )
                return EXIT_FAILING
            delay = self.backoff.next_delay(lasted)
            self._restarts += 1
            event(
                logger,
                "freqtrade_crashed",
                logging.ERROR,
                exit_code=code,
                restart_in_s=delay,
                restarts=self._restarts,
                failures=self._quick_failures,
                reason=reason,
            )
            self._write_status(
                "backoff",
                last_exit=code,
                failures=self._quick_failures,
                max_failures=self.max_quick_failures,
                ever_traded=traded,
                reason=reason,
            )
            deadline = time.monotonic() + delay
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(0.2)
        return EXIT_OK

    def _run_child(self) -> tuple[int, bool]:
        """One run of Freqtrade: its exit code, and whether it ever traded (healthy)."""
        if self._before_start is not None:
            self._before_start()
        if self._stopping:
            return 0, False
        assert self._lease is not None
        command = [*self.freqtrade, "trade", "--config", str(self.paths.config)]
        output = None
        if self.child_output is not None:
            self.child_output.parent.mkdir(parents=True, exist_ok=True)
            output = self.child_output.open("ab")
        try:
            # The child inherits the lease's descriptor (pass_fds), so the lease stays
            # held while any part of this instance lives, and it gets SIGINT the moment
            # its supervisor dies, however it dies (PR_SET_PDEATHSIG).
            self._child = subprocess.Popen(  # noqa: S603 - our own interpreter and config
                command,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(self._lease.fd,),
                preexec_fn=_die_with_parent(os.getpid()),  # the supervisor runs no threads
                env=child_environment(self.inherited, self._child_env),
            )
            child = self._child
            self._lease.record_child(child.pid)
            event(logger, "freqtrade_started", pid=child.pid)
            self._write_status("starting", child_pid=child.pid)
            if self._stopping:  # a signal came between our check and the start
                child.send_signal(signal.SIGINT)
            code, traded = self._wait(child)
            event(logger, "freqtrade_exited", exit_code=code, stopping=self._stopping)
            return code, traded
        finally:
            self._child = None
            self._lease.record_child(None)
            if output is not None:
                output.close()

    def _wait(self, child: subprocess.Popen[bytes]) -> tuple[int, bool]:
        """Wait for the child to exit: its exit code, and whether it ever traded.

        Meanwhile: report it running once it trades, keep memory healed, and enforce the
        stop grace period (here, never inside a signal handler)."""
        healthy = False
        last_probe = 0.0
        kill_at: float | None = None
        while True:
            try:
                return child.wait(timeout=0.25), healthy
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self._stopping:
                if kill_at is None:
                    kill_at = now + self.grace_s
                elif now >= kill_at:
                    event(logger, "freqtrade_killed", logging.WARNING, after_s=self.grace_s)
                    _kill_group(child.pid)
                continue
            self._heal_memory()
            if not healthy and now - last_probe >= HEALTH_EVERY_S:
                last_probe = now
                if self.healthy(self.paths):
                    healthy = True
                    event(logger, "freqtrade_trading", pid=child.pid)
                    self._write_status("running", child_pid=child.pid)

    def _exit_reason(self, code: int, since: float) -> str:
        """Why the child died, in one line: its exit code and its last error, redacted."""
        line = last_error(self.paths.freqtrade_log, self.child_output, since)
        text = f"Freqtrade exited with code {code}" + (f": {line}" if line else "")
        return self.redactor(text)[:400]

    def stop(self) -> None:
        """Ask Freqtrade to stop as Ctrl-C would; a second call forces it (SIGKILL now).

        Safe in a signal handler: it only sets a flag and signals the child; the wait loop
        kills a child that ignores the request after the grace period.
        """
        if self._stopping:
            forced = self._child
            if forced is not None and forced.poll() is None:
                event(logger, "stop_forced", logging.WARNING, pid=forced.pid)
                _kill_group(forced.pid)
            return
        self._stopping = True
        event(logger, "stop_requested")
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGINT)

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


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook giving the child SIGINT when its parent dies (Linux), so an
    orphaned Freqtrade stops trading and frees the lease instead of trading on alone.

    libc is looked up here, before the fork: the hook itself only makes two system calls.
    If the parent already died before the hook ran, the child kills itself at once.
    """
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or name is None:
        return None
    prctl = ctypes.CDLL(name, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _kill_group(pid: int) -> None:
    """SIGKILL a child and everything in its session (it leads its own process group)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


TAIL_BYTES = 64 * 1024


def last_error(log: Path, raw_output: Path | None, since: float) -> str:
    """The last error Freqtrade logged since ``since`` (its JSON log), else the last line
    of its raw output (a traceback before logging was set up); "" when there is none."""
    for line in reversed(_tail_lines(log)):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
            continue
        if _logged_at(entry) < since - 0.5:
            break
        return str(entry.get("event", "")).splitlines()[0] if entry.get("event") else ""
    if raw_output is not None:
        for line in reversed(_tail_lines(raw_output)):
            if line.strip():
                return line.strip()
    return ""


def _tail_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _logged_at(entry: dict[str, Any]) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(entry.get("time"))).timestamp()
    except ValueError:
        return 0.0
