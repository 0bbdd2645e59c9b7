"""The live-trading gate: a bot is reported ``running`` only once the health check says
Freqtrade trades, a child that never does is never reported running (and counts as a
failed start however long it lived), and a live bot whose key fails preflight starts
nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from supervisor_kit import (
    alive,
    assert_every_run_gone,
    events,
    run,
    runs,
    settings_for,
    status,
    wait_for,
    write_spec,
)

from bulkhead.config.workspace import BotPaths
from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.gateway_access import GatewayAccess, GatewayNotRunning, GatewayRefusedBot
from bulkhead.fleet.supervisor import (
    EXIT_CONFIG,
    EXIT_FAILING,
    EXIT_OK,
    EXIT_PREFLIGHT,
    Supervisor,
)


def test_the_bot_is_reported_running_only_once_the_health_check_says_it_trades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trading = threading.Event()
    probes: list[float] = []

    def healthy(_paths: BotPaths) -> bool:
        probes.append(time.monotonic())
        return trading.is_set()

    supervisor = Supervisor(settings_for(write_spec(tmp_path), "trade", healthy=healthy))
    paths = supervisor.settings.paths
    seen: dict[str, Any] = {}

    def operator() -> None:
        started = wait_for("a child", lambda: status(paths).get("child_pid"))
        wait_for("the health check to be asked a few times", lambda: len(probes) >= 5)
        seen["before"] = status(paths)["state"]
        seen["child_alive"] = alive(started)
        trading.set()
        wait_for("running", lambda: status(paths).get("state") == "running")
        seen["running"] = status(paths)
        seen["child"] = started
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert seen["before"] == "starting"
    assert seen["child_alive"] is True
    assert seen["running"]["child_pid"] == seen["child"]
    assert outcome.states.index("running") > outcome.states.index("starting")
    assert len(events(caplog, "freqtrade_trading")) == 1
    assert outcome.states[-1] == "stopped"
    assert_every_run_gone(paths)


def test_a_child_that_never_trades_is_never_reported_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(
        settings_for(write_spec(tmp_path), "trade", healthy=lambda _paths: False)
    )
    paths = supervisor.settings.paths
    probes_before_stop: dict[str, int] = {}

    def operator() -> None:
        wait_for("a child", lambda: status(paths).get("child_pid"))
        time.sleep(0.3)  # long enough for many probes (every 0.02 s)
        probes_before_stop["state_is_starting"] = status(paths)["state"] == "starting"
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert probes_before_stop["state_is_starting"]
    assert "running" not in outcome.states
    assert events(caplog, "freqtrade_trading") == []
    assert_every_run_gone(paths)


def test_a_child_that_dies_before_trading_counts_as_a_failed_start_however_long_it_ran(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each run lives 0.25 s, past calm_after_s, but the gate never opened: not forgiven.
    settings = settings_for(
        write_spec(tmp_path),
        "crash-late",
        healthy=lambda _paths: False,
        max_quick_failures=2,
        backoff=Backoff(initial_s=0.05, calm_after_s=0.1),
    )
    supervisor = Supervisor(settings)

    outcome = run(supervisor)

    assert outcome.code == EXIT_FAILING
    assert len(runs(supervisor.settings.paths)) == 2
    assert "running" not in outcome.states
    backoff = [seen for seen in outcome.statuses if seen["state"] == "backoff"]
    assert backoff
    assert backoff[0]["ever_traded"] is False
    assert events(caplog, "freqtrade_trading") == []


def test_a_live_bot_the_gateway_refused_starts_nothing(tmp_path: Path) -> None:
    asked: list[str] = []

    def gateway() -> GatewayAccess:
        asked.append("asked")
        raise GatewayRefusedBot("the gateway refused bot1: preflight failed")

    supervisor = Supervisor(
        settings_for(write_spec(tmp_path, mode="live"), "trade", gateway=gateway)
    )

    outcome = run(supervisor)

    assert outcome.code == EXIT_PREFLIGHT
    assert asked == ["asked"]
    assert runs(supervisor.settings.paths) == []
    assert not supervisor.settings.paths.config.exists()
    final = status(supervisor.settings.paths)
    assert final["state"] == "refused"
    assert final["reason"] == "the gateway refused bot1: preflight failed"


def test_a_gateway_that_is_not_running_starts_nothing(tmp_path: Path) -> None:
    def gateway() -> GatewayAccess:
        raise GatewayNotRunning("the order gateway is not running")

    supervisor = Supervisor(
        settings_for(write_spec(tmp_path, mode="live"), "trade", gateway=gateway)
    )

    outcome = run(supervisor)

    assert outcome.code == EXIT_CONFIG
    assert runs(supervisor.settings.paths) == []
    assert "not running" in status(supervisor.settings.paths)["reason"]


@pytest.mark.parametrize("gateway_state", ["died", "cannot start"])
def test_the_supervisor_starts_a_dead_gateway_again_and_keeps_its_bot_running_either_way(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, gateway_state: str
) -> None:
    """Without the gateway the bot can neither enter nor exit: its supervisor checks it
    and starts it again; a gateway that will not start is logged, the bot left alone."""
    asked: list[float] = []

    def heal() -> bool:
        asked.append(time.monotonic())
        if gateway_state == "cannot start":
            raise RuntimeError("the order gateway did not start: preflight failed")
        return True

    supervisor = Supervisor(settings_for(write_spec(tmp_path), "trade", gateway_heal=heal))
    paths = supervisor.settings.paths
    seen: dict[str, Any] = {}

    def operator() -> None:
        child = wait_for(
            "running", lambda: status(paths).get("state") == "running" and status(paths)
        )
        wait_for("the gateway to be checked", lambda: asked)
        time.sleep(0.2)
        seen["child"], seen["now"] = child["child_pid"], status(paths)
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert len(asked) == 1  # checked at once, then every few seconds, not in a loop
    assert seen["now"]["state"] == "running"
    assert seen["now"]["child_pid"] == seen["child"]
    if gateway_state == "died":
        assert len(events(caplog, "gateway_restarted")) == 1
    else:
        (failed,) = events(caplog, "gateway_restart_failed")
        assert "preflight failed" in str(failed.__dict__.get("reason", ""))
    assert_every_run_gone(paths)
