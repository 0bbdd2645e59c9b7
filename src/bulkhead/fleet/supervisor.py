"""Supervise one bot: lease, credentials, preflight, rendered config, Freqtrade, restarts.

``bulkhead run-bot`` runs this in the foreground (in a container, or detached by
``bulkhead up``). Live trading never starts without a passing preflight, and the bot is
reported ``running`` only once Freqtrade's trading loop ran; a crash of Freqtrade is
restarted with backoff, and a bot that cannot stay up is given up with the reason. SIGTERM
or Ctrl-C only requests the stop: Freqtrade gets SIGINT (as from a terminal) and the grace
period to finish, a second request kills it at once; then the lease is released.

The settings are frozen (``supervisor_settings``); what changes while it runs is in
``supervisor_state``; the child process itself in ``child``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import time
from types import FrameType
from typing import IO, Any

from pydantic import SecretStr

from bulkhead.errors import BulkheadError
from bulkhead.fleet.advising import AdviceSchedule
from bulkhead.fleet.child import kill_group, last_error, start_child
from bulkhead.fleet.environment import child_environment
from bulkhead.fleet.gateway_access import (
    GatewayAccess,
    GatewayRefusedBot,
    gateway_client,
    point_at_gateway,
)
from bulkhead.fleet.lease import Lease, LeaseHeld
from bulkhead.fleet.orphans import cleanup_before_start
from bulkhead.fleet.supervisor_settings import (
    EXIT_ALREADY_RUNNING,
    EXIT_CONFIG,
    EXIT_FAILING,
    EXIT_OK,
    EXIT_PREFLIGHT,
    GATEWAY_RETRY_S,
    GRACE_S,
    HEAL_EVERY_S,
    MAX_QUICK_FAILURES,
    METRICS_EVERY_S,
    SupervisorSettings,
)
from bulkhead.fleet.supervisor_state import SupervisorState
from bulkhead.freqtrade.config import secret_environment
from bulkhead.freqtrade.config import write_private as write_config
from bulkhead.logs import event
from bulkhead.memory.recorder import (
    EVENTS_DAYS_ENV,
    PASSWORD_ENV,
    RECONCILE_ENV,
    RETENTION_ENV,
    URL_ENV,
    USER_ENV,
)
from bulkhead.plumbing import write_private as write_file
from bulkhead.plumbing.waiting import WaitTimeout, wait_until

__all__ = [
    "EXIT_ALREADY_RUNNING",
    "EXIT_CONFIG",
    "EXIT_FAILING",
    "EXIT_OK",
    "EXIT_PREFLIGHT",
    "GRACE_S",
    "MAX_QUICK_FAILURES",
    "Supervisor",
    "SupervisorSettings",
]

#: the metrics a running bot logs periodically (``analytics.metrics.Metrics`` fields)
METRICS_LOGGED = (
    "trades",
    "win_rate",
    "net_pnl",
    "fees",
    "profit_factor",
    "expectancy",
    "max_drawdown",
    "current_drawdown",
    "sharpe",
    "sortino",
    "final_balance",
)
logger = logging.getLogger("bulkhead.supervisor")

#: how long one wait for the child lasts before the loop looks at stop requests again
POLL_S = 0.05
#: the same while sleeping out a restart delay
BACKOFF_POLL_S = 0.2
#: what Freqtrade holds as its exchange key when it trades through no gateway (dry-run)
NO_EXCHANGE_CREDENTIALS = {
    "api_key": SecretStr(""),
    "secret": SecretStr(""),
    "passphrase": SecretStr(""),
}
#: the status file holds no secret: ``status`` may read it as any user
STATUS_MODE = 0o644


class Supervisor:
    """Runs one bot under ``settings``; ``state`` is what it learns on the way."""

    def __init__(self, settings: SupervisorSettings) -> None:
        self.settings = settings
        self.state = SupervisorState(backoff=dataclasses.replace(settings.backoff))
        self.advice = (
            AdviceSchedule(settings.advise, settings.advise_every_s) if settings.advise else None
        )

    # -- entry point --------------------------------------------------------------------

    def run(self) -> int:
        lease = Lease(self.settings.paths.lock)
        try:
            lease.acquire()
        except LeaseHeld as error:
            event(logger, "supervisor_refused", logging.ERROR, reason=str(error))
            return EXIT_ALREADY_RUNNING
        self.state.lease = lease
        previous = self._install_signals()
        try:
            return self._run_leased()
        finally:
            self._restore_signals(previous)
            if self.state.last_state not in ("refused", "failed"):  # their reason outlives us
                self._write_status("stopped")
            lease.release()
            self.state.lease = None
            event(logger, "supervisor_stop", restarts=self.state.restarts)

    def stop(self) -> None:
        """Request the stop, as Ctrl-C or SIGTERM do; a second request forces it.

        Only counts the request (safe in a signal handler, or from any thread): the
        supervisor's loop sends Freqtrade SIGINT, kills it after the grace period or at
        once on a second request, and logs what it did.
        """
        self.state.request_stop()

    def _run_leased(self) -> int:
        settings, bot, paths = self.settings, self.settings.bot, self.settings.paths
        event(
            logger,
            "supervisor_start",
            mode=bot.mode,
            pid=os.getpid(),
            subaccount=bot.subaccount,
            budget=str(bot.budget.amount),
        )
        self._write_status("starting")
        access = self._gateway_access()
        if isinstance(access, int):
            return access
        paths.user_data.mkdir(parents=True, exist_ok=True)
        # Freqtrade holds the gateway credential, never the bot's real key (the gateway
        # does); without a gateway (dry-run only) it holds no exchange credential at all
        exchange_credentials = access.credentials() if access else NO_EXCHANGE_CREDENTIALS
        try:
            child_env = secret_environment(paths, exchange_credentials)
        except ValueError as error:
            event(logger, "credentials_unusable", logging.ERROR, reason=str(error))
            self._write_status("refused", reason=str(error))
            return EXIT_CONFIG
        child_env.update(self._memory_environment())
        for value in child_env.values():
            settings.redactor.add(value)
        self.state.child_env = child_env
        if bot.mode == "live" and access is not None:
            gateway = access
            self.state.before_start = lambda: cleanup_before_start(
                bot, lambda: gateway_client(gateway), paths.database
            )
        config = settings.render(bot, paths)
        if access is not None:
            point_at_gateway(config, access.url)
        write_config(paths.config, config)
        event(
            logger,
            "config_rendered",
            path=str(paths.config),
            mode="0600",
            stake_amount=config["stake_amount"],
            available_capital=config["available_capital"],
        )
        return self._keep_running()

    def _gateway_access(self) -> GatewayAccess | int | None:
        """The gateway's access for this bot; an exit code when the bot must not start.

        Live trading never starts without the gateway: it holds the real key, ran the
        preflight on it and checks every order against the budget. A bot the gateway
        refused (key unresolved, preflight failed) is refused here with its reason."""
        settings, bot = self.settings, self.settings.bot
        if settings.gateway is None:
            if bot.mode == "live":
                reason = "live trading refused: no order gateway to trade through"
                event(logger, "gateway_missing", logging.ERROR, reason=reason)
                self._write_status("refused", reason=reason)
                return EXIT_PREFLIGHT
            event(logger, "gateway_skipped", reason="dry-run without a gateway")
            return None
        try:
            access = settings.gateway()
        except GatewayRefusedBot as error:
            event(logger, "preflight_refused", logging.ERROR, reason=str(error))
            self._write_status("refused", reason=str(error))
            return EXIT_PREFLIGHT
        except BulkheadError as error:
            event(logger, "gateway_unreachable", logging.ERROR, reason=str(error))
            self._write_status("refused", reason=str(error))
            return EXIT_CONFIG
        for secret in access.secrets():
            settings.redactor.add(secret)
        event(logger, "gateway_access", url=access.url, mode=bot.mode)
        return access

    def _memory_environment(self) -> dict[str, str]:
        """Where the recorder inside Freqtrade writes; memory trouble never stops the bot."""
        memory, spec = self.settings.memory, self.settings.bot.memory
        if memory is None or not spec.enabled:
            event(logger, "memory_off")
            return {}
        try:
            connection = memory()
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
        return {
            URL_ENV: connection.url,
            USER_ENV: connection.username,
            PASSWORD_ENV: connection.password,
            EVENTS_DAYS_ENV: str(spec.retention.events_days),
            RECONCILE_ENV: str(spec.reconcile_every_s),
            RETENTION_ENV: spec.retention.model_dump_json(),
        }

    def _heal_memory(self) -> None:
        heal = self.settings.memory_heal
        if heal is None or time.monotonic() - self.state.last_heal < HEAL_EVERY_S:
            return
        self.state.last_heal = time.monotonic()
        try:
            if heal():
                event(logger, "memory_server_restarted", logging.WARNING)
        except Exception as error:  # keep supervising Freqtrade whatever Redis does
            event(logger, "memory_heal_failed", logging.WARNING, error=type(error).__name__)

    def _heal_gateway(self) -> None:
        heal, now = self.settings.gateway_heal, time.monotonic()
        if heal is None or now < self.state.next_gateway_check:
            return
        self.state.next_gateway_check = now + HEAL_EVERY_S
        try:
            if heal():
                event(logger, "gateway_restarted", logging.WARNING)
        except Exception as error:  # keep supervising Freqtrade; try again later
            self.state.next_gateway_check = time.monotonic() + GATEWAY_RETRY_S
            detail = str(error)[:300]
            event(logger, "gateway_restart_failed", logging.ERROR, reason=detail)

    def _log_metrics(self) -> None:
        """Every ``METRICS_EVERY_S``: the bot's metrics from its memory, as one event in
        the log (``bot_metrics``) and in the bot's events (``metrics``)."""
        connect, now = self.settings.memory, time.monotonic()
        if connect is None or now < self.state.next_metrics:
            return
        self.state.next_metrics = now + METRICS_EVERY_S
        from bulkhead.analytics.metrics import compute
        from bulkhead.analytics.trades import Trades
        from bulkhead.memory.store import MemoryStore

        bot = self.settings.bot
        try:
            client = connect().client(socket_timeout=5, socket_connect_timeout=2)
            try:
                store = MemoryStore(client, bot.name)
                metrics = compute(Trades.from_records(store.trades()), float(bot.budget.amount))
                shown = {k: metrics.as_dict()[k] for k in METRICS_LOGGED}
                store.record_event("metrics", shown)
            finally:
                client.close()
        except Exception as error:  # metrics are a report, never a reason to stop
            event(logger, "metrics_failed", logging.WARNING, error=str(error)[:200])
            return
        event(logger, "bot_metrics", **shown)

    # -- the Freqtrade child ------------------------------------------------------------

    def _keep_running(self) -> int:
        """Run Freqtrade until told to stop; restart it with backoff when it dies, and give
        up after ``max_quick_failures`` runs in a row that died early: a bot that cannot
        stay up (a strategy that crashes at start, a config Freqtrade refuses) is reported
        as failed, with the reason, instead of being restarted forever."""
        state, limit = self.state, self.settings.max_quick_failures
        while not state.stopping:
            started = time.monotonic()
            started_at = time.time()
            code, traded = self._run_child()
            if state.stopping:
                break
            lasted = time.monotonic() - started
            if traded and lasted >= state.backoff.calm_after_s:
                state.quick_failures = 0
            state.quick_failures += 1
            reason = self._exit_reason(code, started_at)
            if state.quick_failures >= limit:
                event(
                    logger,
                    "freqtrade_failing",
                    logging.CRITICAL,
                    exit_code=code,
                    failures=state.quick_failures,
                    reason=reason,
                )
                self._write_status(
                    "failed",
                    last_exit=code,
                    failures=state.quick_failures,
                    reason=f"gave up after {state.quick_failures} failed starts: {reason}",
                )
                return EXIT_FAILING
            delay = state.backoff.next_delay(lasted)
            state.restarts += 1
            event(
                logger,
                "freqtrade_crashed",
                logging.ERROR,
                exit_code=code,
                restart_in_s=delay,
                restarts=state.restarts,
                failures=state.quick_failures,
                reason=reason,
            )
            self._write_status(
                "backoff",
                last_exit=code,
                failures=state.quick_failures,
                max_failures=limit,
                ever_traded=traded,
                reason=reason,
            )
            with contextlib.suppress(WaitTimeout):  # the delay passed: start again
                wait_until(lambda: state.stopping, delay, BACKOFF_POLL_S, what="restart delay")
        self._log_stop_request()
        return EXIT_OK

    def _run_child(self) -> tuple[int, bool]:
        """One run of Freqtrade: its exit code, and whether it ever traded (healthy)."""
        state = self.state
        if state.before_start is not None:
            state.before_start()
        if state.stopping:
            return 0, False
        assert state.lease is not None
        output: IO[bytes] | None = None
        if self.settings.child_output is not None:
            self.settings.child_output.parent.mkdir(parents=True, exist_ok=True)
            output = self.settings.child_output.open("ab")
        try:
            child = start_child(
                self.settings.command(),
                state.lease,
                child_environment(self.settings.inherited, state.child_env),
                output,
            )
            state.child = child
            state.lease.record_child(child.pid)
            event(logger, "freqtrade_started", pid=child.pid)
            self._write_status("starting", child_pid=child.pid)
            code, traded = self._wait(child)
            event(logger, "freqtrade_exited", exit_code=code, stopping=state.stopping)
            return code, traded
        finally:
            state.child = None
            state.lease.record_child(None)
            if output is not None:
                output.close()

    def _wait(self, child: subprocess.Popen[bytes]) -> tuple[int, bool]:
        """Wait for the child to exit: its exit code, and whether it ever traded.

        Meanwhile: act on stop requests (SIGINT on the first; the process group killed
        once the grace period is over, or at once on a second request), report the bot
        running once the health check says it trades, and keep memory healed."""
        settings, state = self.settings, self.state
        healthy = False
        last_probe = 0.0
        kill_at: float | None = None
        killed = False
        while True:
            now = time.monotonic()
            if state.stopping and kill_at is None:
                self._log_stop_request()
                kill_at = now + settings.grace_s
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            if kill_at is not None and not killed and (state.forced or now >= kill_at):
                if state.forced:
                    event(logger, "stop_forced", logging.WARNING, pid=child.pid)
                else:
                    event(logger, "freqtrade_killed", logging.WARNING, after_s=settings.grace_s)
                kill_group(child.pid)
                killed = True
            try:
                return child.wait(timeout=POLL_S), healthy
            except subprocess.TimeoutExpired:
                pass
            if state.stopping:
                continue
            self._heal_memory()
            self._heal_gateway()
            self._log_metrics()
            if self.advice is not None:
                self.advice.tick(healthy)
            if not healthy and time.monotonic() - last_probe >= settings.health_every_s:
                last_probe = time.monotonic()
                if settings.healthy(settings.paths):
                    healthy = True
                    event(logger, "freqtrade_trading", pid=child.pid)
                    self._write_status("running", child_pid=child.pid)

    def _log_stop_request(self) -> None:
        """Log a stop request once, here in the loop, never in the signal handler."""
        if self.state.stopping and not self.state.stop_logged:
            self.state.stop_logged = True
            event(logger, "stop_requested")

    def _exit_reason(self, code: int, since: float) -> str:
        """Why the child died, in one line: its exit code and its last error, redacted."""
        line = last_error(self.settings.paths.freqtrade_log, self.settings.child_output, since)
        text = f"Freqtrade exited with code {code}" + (f": {line}" if line else "")
        return self.settings.redactor(text)[:400]

    # -- plumbing -----------------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.state.request_stop()

        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _write_status(self, state: str, **details: Any) -> None:
        self.state.last_state = state
        status = {
            "bot": self.settings.bot.name,
            "state": state,
            "pid": os.getpid(),
            "restarts": self.state.restarts,
            "since": time.time(),
            **details,
        }
        # replaced at once: a reader sees the old status or the new, never half of one
        write_file(self.settings.paths.status, json.dumps(status), STATUS_MODE)
