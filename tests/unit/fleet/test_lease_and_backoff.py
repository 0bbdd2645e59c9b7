"""One live instance per bot, and restarts that slow down instead of hammering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.lease import Lease, LeaseHeld, lease_holder


def test_a_second_lease_on_the_same_bot_is_refused_until_the_first_is_released(tmp_path: Path):
    path = tmp_path / "supervisor.lock"
    first = Lease(path)
    first.acquire()
    with pytest.raises(LeaseHeld):
        Lease(path).acquire()
    first.release()
    with Lease(path):
        pass


def test_the_lease_names_its_holder_and_frees_itself_when_the_holder_dies(tmp_path: Path):
    path = tmp_path / "supervisor.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from bulkhead.fleet.lease import Lease;"
            f"Lease(Path({str(path)!r})).acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        assert lease_holder(path) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert lease_holder(path) is None


def test_restart_delays_double_up_to_the_cap_and_reset_after_a_calm_run():
    backoff = Backoff(initial_s=1, maximum_s=8, factor=2, calm_after_s=60)
    assert [backoff.next_delay(1) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.next_delay(600) == 1
