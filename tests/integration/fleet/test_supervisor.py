"""The supervisor run for real over a stand-in Freqtrade: one instance per bot whatever is
killed, a child that sees no one else's secrets, and a bot that cannot stay up reported
as failing instead of restarted forever.

Freqtrade itself runs in the end-to-end tests (tests/e2e); here the engine is the small
stand-in ``standin_freqtrade.py``, so each test takes a second or two.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from run_supervisor import GATEWAY, build

from bulkhead.config.workspace import BotPaths, Workspace
from bulkhead.fleet import local
from bulkhead.fleet.gateway_access import GatewayAccess, GatewayRefusedBot
from bulkhead.fleet.lease import Lease, LeaseHeld, is_held, lease_processes, read_record
from bulkhead.fleet.supervisor import EXIT_FAILING, EXIT_OK, EXIT_PREFLIGHT
from bulkhead.plumbing import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[3]
RUNNER = Path(__file__).with_name("run_supervisor.py")
DEADLINE_S = 20.0


def wait_for(what: str, probe: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    try:
        return wait_until(probe, deadline_s, 0.05, what=what)
    except WaitTimeout as timeout:
        pytest.fail(str(timeout))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def status(paths: BotPaths) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(paths.status.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """The example spec, in dry-run (no preflight), in a folder of its own."""
    text = (ROOT / "examples" / "bulkhead.yaml").read_text()
    assert text.count("mode: live") == 1
    path = tmp_path / "bulkhead.yaml"
    path.write_text(text.replace("mode: live", "mode: dry_run"))
    return path


@pytest.fixture
def paths(spec: Path) -> BotPaths:
    return Workspace.for_spec(spec).bot("bot1")


@pytest.fixture
def supervisor_process(spec: Path, paths: BotPaths) -> Iterator[subprocess.Popen[bytes]]:
    """A supervisor running the stand-in in its own process; whatever is left is killed."""
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), str(spec), "trade"],
        env={**os.environ, "PYTHONPATH": str(RUNNER.parent)},
        start_new_session=True,
    )
    try:
        yield process
    finally:
        for pid in [process.pid, *lease_processes(paths.lock)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        process.wait()


def running_child(paths: BotPaths) -> int:
    found = wait_for(
        "the supervisor to report its child running",
        lambda: status(paths).get("state") == "running" and status(paths),
    )
    return int(found["child_pid"])


def test_freqtrade_keeps_the_lease_after_its_supervisor_is_killed_then_dies_with_it(
    supervisor_process: subprocess.Popen[bytes], paths: BotPaths
) -> None:
    child = running_child(paths)
    record = read_record(paths.lock)
    assert record is not None
    assert (record.supervisor, record.child) == (supervisor_process.pid, child)
    # the orphan's shutdown outlasts the checks below, however slow the machine
    (paths.root / "shutdown-seconds").write_text("3")

    supervisor_process.kill()
    supervisor_process.wait()

    # The orphan still holds the lease: no second instance can start beside it.
    assert alive(child)
    assert is_held(paths.lock)
    with pytest.raises(LeaseHeld):
        Lease(paths.lock).acquire()
    assert local.observe(paths).state == "orphaned"
    assert lease_processes(paths.lock) == [child]

    # The kernel told it to stop when its supervisor died; once it is gone, so is the lease.
    wait_for("the orphan to stop", lambda: not alive(child))
    assert not (paths.root / f"child-{child}.alive").exists(), "it did not shut down cleanly"
    assert not is_held(paths.lock)
    assert local.observe(paths).state == "stopped"


def test_down_stops_an_orphan_that_ignores_its_stop_signal(
    spec: Path, paths: BotPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), str(spec), "stubborn"],
        env={**os.environ, "PYTHONPATH": str(RUNNER.parent)},
        start_new_session=True,
    )
    try:
        child = running_child(paths)
        process.kill()
        process.wait()
        assert local.observe(paths).state == "orphaned"
        monkeypatch.setattr(local, "STOP_TIMEOUT_S", 1.0)

        assert local.stop(paths) is True

        assert not is_held(paths.lock)
        wait_for("the stubborn orphan to be reaped", lambda: not alive(child), 5)
    finally:
        for pid in lease_processes(paths.lock):
            os.kill(pid, signal.SIGKILL)


def test_freqtrade_sees_only_allowlisted_variables_and_its_own_bot_secrets(
    spec: Path, paths: BotPaths
) -> None:
    inherited = {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "LC_TIME": "C",
        "BOT2_KUCOIN_API_SECRET": "another-bots-secret",
        "KUCOIN_MASTER_API_SECRET": "the-master-secret",
        "FREQTRADE__EXCHANGE__SECRET": "a-stray-override",
        "AWS_SECRET_ACCESS_KEY": "cloud-secret",
        "PYTEST_CURRENT_TEST": "x",
    }
    supervisor = build(spec, "trade", inherited=inherited)
    stopper = threading.Thread(
        target=lambda: (running_child(paths), supervisor.stop()), daemon=True
    )
    stopper.start()

    assert supervisor.run() == EXIT_OK

    seen: dict[str, str] = json.loads((paths.root / "child-env.json").read_text())
    values = set(seen.values())
    for leaked in ("another-bots-secret", "the-master-secret", "a-stray-override", "cloud-secret"):
        assert leaked not in values
    assert not {"BOT2_KUCOIN_API_SECRET", "AWS_SECRET_ACCESS_KEY", "PYTEST_CURRENT_TEST"} & set(
        seen
    )
    assert seen["LANG"] == "C.UTF-8"
    assert seen["LC_TIME"] == "C"
    # the gateway credential, never a KuCoin key: the gateway holds that
    assert seen["FREQTRADE__EXCHANGE__KEY"] == "gw-key"
    assert seen["FREQTRADE__EXCHANGE__SECRET"] == "gw-secret"
    assert seen["FREQTRADE__EXCHANGE__PASSWORD"] == "gw-passphrase"


def test_a_freqtrade_that_crashes_at_start_is_given_up_with_the_reason(
    spec: Path, paths: BotPaths
) -> None:
    output = paths.root / "logs" / "freqtrade.out"
    supervisor = build(spec, "crash", max_quick_failures=3, child_output=output)

    assert supervisor.run() == EXIT_FAILING

    final = status(paths)
    assert final["state"] == "failed"
    assert final["failures"] == 3
    assert "gave up after 3 failed starts" in final["reason"]
    assert "exited with code 2" in final["reason"]
    assert "Impossible to load Strategy" in final["reason"]
    assert not is_held(paths.lock)
    seen = local.observe(paths)
    assert (seen.state, seen.pid) == ("failed", None)
    assert "Impossible to load Strategy" in seen.detail


def test_a_stop_signal_does_not_wait_for_the_child_which_is_killed_after_the_grace_period(
    spec: Path, paths: BotPaths
) -> None:
    supervisor = build(spec, "stubborn", grace_s=1.0)
    seen: dict[str, Any] = {}

    def stop_when_running() -> None:
        seen["child"] = running_child(paths)
        supervisor.stop()  # what the signal handler calls
        # It returned without waiting: the child that ignores SIGINT is still there.
        seen["alive_after_stop"] = alive(seen["child"])

    threading.Thread(target=stop_when_running, daemon=True).start()

    assert supervisor.run() == EXIT_OK

    assert seen["alive_after_stop"] is True
    assert not alive(seen["child"])
    assert not is_held(paths.lock)
    assert status(paths)["state"] == "stopped"


def test_a_second_stop_request_kills_the_child_at_once(spec: Path, paths: BotPaths) -> None:
    supervisor = build(spec, "stubborn", grace_s=600.0)
    seen: dict[str, Any] = {}

    def stop_twice() -> None:
        seen["child"] = running_child(paths)
        supervisor.stop()
        seen["alive_after_first"] = alive(seen["child"])
        supervisor.stop()  # a second Ctrl-C: do not wait out the ten-minute grace

    threading.Thread(target=stop_twice, daemon=True).start()

    assert supervisor.run() == EXIT_OK  # returns long before the grace period ends

    assert seen["alive_after_first"] is True
    assert not alive(seen["child"])
    assert not is_held(paths.lock)


@pytest.mark.parametrize("served", [False, True])
def test_a_live_bot_starts_freqtrade_only_when_the_gateway_serves_it(
    tmp_path: Path, served: bool
) -> None:
    live = tmp_path / "bulkhead.yaml"
    live.write_text((ROOT / "examples" / "bulkhead.yaml").read_text())
    paths = Workspace.for_spec(live).bot("bot1")
    asked: list[str] = []

    def gateway() -> GatewayAccess:
        asked.append("bot1")
        if not served:
            raise GatewayRefusedBot("the gateway refused bot1: preflight failed")
        return GATEWAY

    supervisor = build(live, "trade", gateway=gateway)
    if served:
        threading.Thread(
            target=lambda: (running_child(paths), supervisor.stop()), daemon=True
        ).start()

    code = supervisor.run()

    assert asked == ["bot1"]
    assert (paths.root / "child-env.json").exists() is served
    if served:
        assert code == EXIT_OK
        exchange = json.loads(paths.config.read_text())["exchange"]
        assert exchange["ccxt_config"]["urls"]["api"]["private"] == GATEWAY.url
        assert exchange["enable_ws"] is False
    else:
        assert code == EXIT_PREFLIGHT
        assert status(paths)["state"] == "refused"
        assert "preflight failed" in status(paths)["reason"]
        assert not paths.config.exists()


def test_a_live_bot_without_a_gateway_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "bulkhead.yaml"
    live.write_text((ROOT / "examples" / "bulkhead.yaml").read_text())
    paths = Workspace.for_spec(live).bot("bot1")

    code = build(live, "trade", gateway=None).run()

    assert code == EXIT_PREFLIGHT
    assert "no order gateway" in status(paths)["reason"]
    assert not (paths.root / "child-env.json").exists()
