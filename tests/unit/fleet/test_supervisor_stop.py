"""The stop path: a stop request (a signal, or ``stop()`` from any thread) only asks; the
supervisor's loop sends Freqtrade SIGINT, waits the grace period for it, kills its process
group after that, and kills it at once on a second request. The request itself never
waits for the child."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from supervisor_kit import (
    alive,
    assert_every_run_gone,
    events,
    run,
    running_child,
    settings_for,
    sigints,
    wait_for,
    write_spec,
)

from bulkhead.fleet.lease import is_held
from bulkhead.fleet.supervisor import EXIT_OK, Supervisor


def test_a_stop_request_sends_sigint_and_the_child_exits_within_the_grace_period(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(settings_for(write_spec(tmp_path), "trade", grace_s=10.0))
    paths = supervisor.settings.paths
    seen: dict[str, Any] = {}

    def operator() -> None:
        seen["child"] = running_child(paths)
        seen["asked"] = time.monotonic()
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert time.monotonic() - seen["asked"] < 2.0  # it exited on SIGINT, long before 10 s
    assert sigints(paths) == [seen["child"]]
    assert not alive(seen["child"])
    assert len(events(caplog, "stop_requested")) == 1
    assert events(caplog, "freqtrade_killed") == events(caplog, "stop_forced") == []
    exited = events(caplog, "freqtrade_exited")
    assert [record.exit_code for record in exited] == [0]  # type: ignore[attr-defined]
    assert outcome.states[-1] == "stopped"
    assert not is_held(paths.lock)


def test_a_child_that_ignores_sigint_is_killed_once_the_grace_period_is_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(settings_for(write_spec(tmp_path), "stubborn", grace_s=0.5))
    paths = supervisor.settings.paths
    seen: dict[str, Any] = {}

    def operator() -> None:
        seen["child"] = running_child(paths)
        seen["asked"] = time.monotonic()
        supervisor.stop()
        # the request returned without waiting: the child is still there
        seen["alive_after_stop"] = alive(seen["child"])
        wait_for("the child to get SIGINT", lambda: sigints(paths))
        seen["alive_after_sigint"] = alive(seen["child"])

    outcome = run(supervisor, operator)
    waited = time.monotonic() - seen["asked"]

    assert outcome.code == EXIT_OK
    assert seen["alive_after_stop"] is True
    assert seen["alive_after_sigint"] is True
    assert 0.5 <= waited < 2.5
    assert not alive(seen["child"])
    killed = events(caplog, "freqtrade_killed")
    assert [record.after_s for record in killed] == [0.5]  # type: ignore[attr-defined]
    assert events(caplog, "freqtrade_exited")[0].exit_code == -signal.SIGKILL  # type: ignore[attr-defined]
    assert not is_held(paths.lock)
    assert outcome.states[-1] == "stopped"


def test_a_second_stop_request_kills_the_child_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(settings_for(write_spec(tmp_path), "stubborn", grace_s=600.0))
    paths = supervisor.settings.paths
    seen: dict[str, Any] = {}

    def operator() -> None:
        seen["child"] = running_child(paths)
        supervisor.stop()
        wait_for("the child to get SIGINT", lambda: sigints(paths))
        seen["alive_after_first"] = alive(seen["child"])
        seen["second"] = time.monotonic()
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK  # long before the ten-minute grace period
    assert time.monotonic() - seen["second"] < 1.5
    assert seen["alive_after_first"] is True
    assert not alive(seen["child"])
    assert len(events(caplog, "stop_forced")) == 1
    assert events(caplog, "freqtrade_killed") == []
    assert not is_held(paths.lock)


def test_sigterm_only_requests_the_stop_and_a_second_one_forces_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = Supervisor(settings_for(write_spec(tmp_path), "stubborn", grace_s=600.0))
    paths = supervisor.settings.paths
    before = signal.getsignal(signal.SIGTERM)
    seen: dict[str, Any] = {}

    def operator() -> None:
        seen["child"] = running_child(paths)
        os.kill(os.getpid(), signal.SIGTERM)  # what `bulkhead down` sends
        wait_for("the child to get SIGINT", lambda: sigints(paths))
        seen["requests_after_first"] = supervisor.state.stop_requests
        seen["alive_after_first"] = alive(seen["child"])
        os.kill(os.getpid(), signal.SIGTERM)

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert seen["requests_after_first"] == 1
    assert seen["alive_after_first"] is True
    assert sigints(paths) == [seen["child"]]  # one SIGINT, however many requests
    assert not alive(seen["child"])
    assert len(events(caplog, "stop_requested")) == 1
    assert len(events(caplog, "stop_forced")) == 1
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert_every_run_gone(paths)


def test_a_stop_requested_before_the_start_starts_no_child(tmp_path: Path) -> None:
    supervisor = Supervisor(settings_for(write_spec(tmp_path), "trade"))
    supervisor.stop()

    outcome = run(supervisor)

    assert outcome.code == EXIT_OK
    assert not (supervisor.settings.paths.root / "runs").exists()
    assert outcome.states[-1] == "stopped"
