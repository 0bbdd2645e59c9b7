"""Restart backoff: a Freqtrade that keeps dying early is restarted after growing delays
and given up after ``max_quick_failures`` with the reason from its last error; a run that
traded calmly is forgiven; a stop during a delay ends it at once; the settings' backoff is
never used up by a run."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from supervisor_kit import (
    assert_every_run_gone,
    events,
    run,
    runs,
    settings_for,
    status,
    wait_for,
    write_spec,
)

from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.lease import is_held
from bulkhead.fleet.supervisor import EXIT_FAILING, EXIT_OK, Supervisor, SupervisorSettings


def test_quick_failures_back_off_then_give_up_with_the_reason_from_the_last_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(
        write_spec(tmp_path),
        "crash",
        max_quick_failures=3,
        backoff=Backoff(initial_s=0.1, factor=2.0, maximum_s=1.0),
        child_output=tmp_path / "freqtrade.out",
    )
    supervisor = Supervisor(settings)

    outcome = run(supervisor)

    assert outcome.code == EXIT_FAILING
    paths = settings.paths
    assert len(runs(paths)) == 3
    crashed = events(caplog, "freqtrade_crashed")
    assert [record.restart_in_s for record in crashed] == [0.1, 0.2]  # type: ignore[attr-defined]
    assert [record.failures for record in crashed] == [1, 2]  # type: ignore[attr-defined]
    # each restart waited out its delay
    starts = [r.created for r in events(caplog, "freqtrade_started")]
    assert starts[1] - starts[0] >= 0.1
    assert starts[2] - starts[1] >= 0.2
    final = status(paths)
    assert final["state"] == "failed"
    assert final["failures"] == 3
    assert final["last_exit"] == 3
    assert final["reason"].startswith("gave up after 3 failed starts: ")
    assert "Freqtrade exited with code 3: boom in run 3" in final["reason"]
    assert "backoff" in outcome.states
    assert not is_held(paths.lock)
    assert_every_run_gone(paths)


def test_a_run_that_traded_calmly_is_forgiven_and_its_delay_starts_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each run trades and lives 0.25 s, longer than calm_after_s: never a quick failure.
    supervisor = Supervisor(
        settings_for(
            write_spec(tmp_path),
            "crash-late",
            max_quick_failures=2,
            backoff=Backoff(initial_s=0.05, factor=4.0, calm_after_s=0.1),
        )
    )
    paths = supervisor.settings.paths

    def operator() -> None:
        wait_for("a fourth start", lambda: len(runs(paths)) >= 4)
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert "failed" not in outcome.states
    crashed = events(caplog, "freqtrade_crashed")
    assert len(crashed) >= 3
    assert {record.failures for record in crashed} == {1}  # type: ignore[attr-defined]
    assert {record.restart_in_s for record in crashed} == {0.05}  # type: ignore[attr-defined]
    assert all(seen["ever_traded"] for seen in outcome.statuses if seen["state"] == "backoff")
    assert_every_run_gone(paths)


def test_a_stop_during_the_restart_delay_ends_the_supervisor_at_once(tmp_path: Path) -> None:
    supervisor = Supervisor(
        settings_for(write_spec(tmp_path), "crash", backoff=Backoff(initial_s=60.0))
    )
    paths = supervisor.settings.paths
    asked: list[float] = []

    def operator() -> None:
        wait_for("backing off", lambda: status(paths).get("state") == "backoff")
        asked.append(time.monotonic())
        supervisor.stop()

    outcome = run(supervisor, operator)

    assert outcome.code == EXIT_OK
    assert time.monotonic() - asked[0] < 1.0  # not the 60 s delay
    assert len(runs(paths)) == 1
    assert outcome.states[-1] == "stopped"
    assert not is_held(paths.lock)


def test_settings_are_frozen_and_a_run_leaves_them_as_they_were(tmp_path: Path) -> None:
    settings = settings_for(
        write_spec(tmp_path),
        "crash",
        max_quick_failures=3,
        backoff=Backoff(initial_s=0.05, factor=2.0),
    )
    before = dataclasses.replace(settings.backoff)

    assert run(Supervisor(settings)).code == EXIT_FAILING

    assert settings.backoff == before  # the run counted on its own copy
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.grace_s = 1.0  # type: ignore[misc]
    second = Supervisor(settings)
    assert second.state.quick_failures == 0
    assert second.state.backoff.next_delay(0.0) == 0.05  # a fresh run starts at the start


@pytest.mark.parametrize(("field", "value"), [("max_quick_failures", 0), ("grace_s", -1.0)])
def test_settings_refuse_values_that_cannot_supervise(
    tmp_path: Path, field: str, value: float
) -> None:
    with pytest.raises(ValueError, match=field):
        settings_for(write_spec(tmp_path), "crash", **{field: value})


def test_a_command_given_as_a_list_is_kept_as_a_tuple(tmp_path: Path) -> None:
    command = ["python", "-m", "freqtrade"]
    settings = settings_for(write_spec(tmp_path), "crash", freqtrade=command)
    command.append("changed")

    assert isinstance(settings, SupervisorSettings)
    assert settings.freqtrade == ("python", "-m", "freqtrade")
    assert settings.command() == [
        "python",
        "-m",
        "freqtrade",
        "trade",
        "--config",
        str(settings.paths.config),
    ]
