"""The fleet in real containers: the image, the generated Compose project with a twin, its
walls, and what survives ``down``/``up`` and a killed container.

Two bots on one twin: ``alpha`` trades live (TwinScalper, a round trip every ~20 s),
``beta`` runs dry. Everything goes through what a user runs: ``bulkhead compose --twin``,
``bulkhead twin-keys``, and the Docker runtime (``bulkhead.fleet.docker``, which ``bulkhead
up/down/status/logs`` drive with ``runtime: docker``). The tests run in file order on one
deployment; each polls with a deadline and fails with the state of every container.

Traffic stays on this machine: the containers talk over the project's own bridge networks,
the test only to loopback (published REST ports) and into the containers it started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import containerkit
import pytest
from fleetkit import (
    BOT,
    BOTS,
    CPUS,
    MEMORY,
    OTHER,
    PROJECT,
    TRADE_DEADLINE_S,
    UP_DEADLINE_S,
    Deployment,
    check_books,
    deploy,
    wired,
)
from packaging.requirements import Requirement

from bulkhead.fleet import docker

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

#: Freqtrade's pre-configuration lines (before it applies the rendered log_config)
FREQTRADE_PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.]+ - [A-Z]+ - ")


@pytest.fixture(scope="module")
def fleet(
    engine: containerkit.Engine, images: containerkit.Images, report: containerkit.Report
) -> Iterator[Deployment]:
    with deploy(engine, images, report) as deployment:
        yield deployment


# -- the image ------------------------------------------------------------------------------


def test_the_image_installs_pyprojects_dependencies_and_runs_both_commands_as_uid_1000(
    engine: containerkit.Engine, images: containerkit.Images, report: containerkit.Report
) -> None:
    image = images.bulkhead
    assert engine("run", "--rm", "--entrypoint", "id", image, "-u").strip() == "1000"
    assert "Usage" in engine("run", "--rm", image, "--help")
    assert "freqtrade 2026.9" in engine("run", "--rm", "--entrypoint", "freqtrade", image, "-V")
    # Bulkhead's requirements are pyproject.toml's, each satisfied in the image.
    check = (
        "import importlib.metadata as m, json; "
        "from packaging.requirements import Requirement as R; "
        "reqs = [R(r) for r in m.requires('bulkhead')]; "
        "reqs = [r for r in reqs if not r.marker or r.marker.evaluate({'extra': ''})]; "
        "print(json.dumps([[str(r), m.version(r.name) in r.specifier] for r in reqs]))"
    )
    found = json.loads(engine("run", "--rm", "--entrypoint", "python", image, "-c", check))
    pyproject = (containerkit.ROOT / "pyproject.toml").read_text()
    declared = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    assert declared is not None
    listed = re.findall(r'^\s*"([^"]+)",', declared.group(1), re.M)
    assert sorted(r for r, _ in found) == sorted(str(Requirement(r)) for r in listed)
    assert all(ok for _, ok in found), found
    # Nothing of the build left behind: no pip cache, no source copy, no compiler.
    leftovers = engine(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ls -d ~/.cache/pip /tmp/bulkhead-src /tmp/base-constraints.txt 2>/dev/null;"
        " command -v gcc cc make 2>/dev/null; true",
    )
    assert leftovers.strip() == ""
    report.facts["image"] = f"{image} on {images.freqtrade} (stand-in for freqtradeorg/freqtrade)"


# -- up, a round trip, status and logs ------------------------------------------------------


def test_the_fleet_comes_up_healthy_and_trades_a_round_trip_on_the_twin(fleet: Deployment) -> None:
    fleet.up(["twin"], "fleet: twin up to healthy")
    keys = fleet.cli("twin-keys")
    assert keys.returncode == 0, keys.stdout + keys.stderr
    for bot in BOTS:
        for part in ("api_key", "secret", "passphrase"):
            path = fleet.directory / "secrets" / bot / part
            assert path.stat().st_uid == 1000 or os.geteuid() != 0
            assert path.stat().st_mode & 0o077 == 0
    fleet.up([f"bot-{bot}" for bot in BOTS], "fleet: bots up to healthy")

    first = fleet.next_closed_trade(0, "fleet: first round trip after healthy")
    assert first >= 1

    # Preflight passed before live trading; the logs are the JSON events, secrets redacted.
    lines = list(docker.logs(fleet.project, f"bot-{BOT}", lines=100_000))
    entries, plain = [], []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        (entries.append(entry) if isinstance(entry, dict) else plain.append(line))
    names = Counter(str(e.get("event")) for e in entries)
    preflight = [e for e in entries if e.get("event") == "preflight"]
    assert preflight, "no preflight event\n" + "\n".join(lines[-40:])
    assert preflight[0]["passed"] is True, preflight[0]
    for name in ("supervisor_start", "config_rendered", "freqtrade_started", "entry_signal"):
        assert names[name] >= 1, f"no {name} in `docker compose logs`: {names}"
    assert names["order_filled"] >= 2, names
    unexpected = [line for line in plain if line.strip() and not FREQTRADE_PLAIN_LINE.match(line)]
    assert not unexpected, unexpected[:10]
    secrets = fleet.secret_values()
    assert not [line for line in lines if any(value in line for value in secrets)]
    fleet.report.facts["bot log lines"] = (
        f"{len(entries)} JSON events, {len(plain)} plain (Freqtrade before its log config)"
    )

    # What `bulkhead status` and `bulkhead logs` show.
    states = docker.status(fleet.project)
    assert {name: s.describe() for name, s in states.items()} == {
        "bot-alpha": "running",
        "bot-beta": "running",
        "redis": "running",
        "twin": "running",
    }
    live = docker.snapshot(fleet.project, BOT)
    assert live.reachable, live
    assert live.closed_trades >= 1, live
    if wired():
        status = fleet.cli("status")
        assert status.returncode == 0, status.stdout + status.stderr
        row = next(line for line in status.stdout.splitlines() if line.startswith(BOT))
        assert "running" in row, status.stdout
        shown = fleet.cli("logs", BOT, "-n", "400")
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert "order_filled" in shown.stdout


# -- the walls ------------------------------------------------------------------------------

WALLS = r"""
echo "uid=$(id -u)"
for status in /proc/[0-9]*/status; do
  grep -E '^(Name|Uid|CapEff|CapBnd|NoNewPrivs):' "$status" 2>/dev/null | tr '\t\n' '  '
  echo
done
if touch /rootfs-probe 2>/dev/null; then echo "rootfs=writable"; else echo "rootfs=read-only"; fi
if [ -f /sys/fs/cgroup/cpu.max ]; then
  echo "cpu=$(cat /sys/fs/cgroup/cpu.max)"
  echo "memory=$(cat /sys/fs/cgroup/memory.max)"
else
  echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
  echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
fi
"""


def _walls(fleet: Deployment, service: str) -> dict[str, Any]:
    out = fleet.compose("exec", "-T", service, "sh", "-c", WALLS)
    found: dict[str, Any] = {"processes": []}
    for line in out.splitlines():
        if line.startswith("Name:"):
            fields = dict(re.findall(r"(\w+):\s+(\S+)", line))
            found["processes"].append(fields)
        elif "=" in line:
            key, _, value = line.partition("=")
            found[key] = value.strip()
    return found


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].lower()])


def test_every_container_is_walled_in(fleet: Deployment) -> None:
    services = {"bot-alpha": "1000", "bot-beta": "1000", "twin": "1000", "redis": None}
    secrets = fleet.secret_values()
    assert len(secrets) >= 10
    for service, uid in services.items():
        inspected = fleet.container(service)
        host = inspected["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] == ["ALL"], service
        assert not host["CapAdd"], service
        assert not host["Privileged"], service
        assert "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["NanoCpus"] > 0, service
        assert host["Memory"] > 0, service
        raw = fleet.engine("inspect", inspected["Id"])
        leaked = [value[:4] + "..." for value in secrets if value in raw]
        assert not leaked, f"docker inspect {service} shows secret values: {leaked}"

        walls = _walls(fleet, service)
        assert walls["rootfs"] == "read-only", service
        assert walls["uid"] != "0", service
        if uid is not None:
            assert walls["uid"] == uid, service
        for process in walls["processes"]:
            assert process["Uid"] != "0", (service, process)
            assert int(process["CapEff"], 16) == 0, (service, process)
            assert int(process["CapBnd"], 16) == 0, (service, process)
            assert process["NoNewPrivs"] == "1", (service, process)
        quota, period = walls["cpu"].split()
        assert quota != "max", walls
        assert int(quota) / int(period) == host["NanoCpus"] / 1e9, walls
        assert int(walls["memory"]) == host["Memory"], walls
        if service.startswith("bot-"):
            assert host["NanoCpus"] / 1e9 == CPUS
            assert host["Memory"] == _size(MEMORY)

    # Each bot reaches Redis only as its own user, fenced to its own keys.
    for me, other in ((BOT, OTHER), (OTHER, BOT)):
        tried = fleet.probe(f"bot-{me}", "redis", me, other)
        assert {k: v for k, v in tried.items() if k.startswith("own")} == {
            "own write": "ok",
            "own read": "ok",
            "own delete": "ok",
        }, tried
        refused = {k: v for k, v in tried.items() if not k.startswith("own")}
        assert "ok" not in refused.values(), tried
        mounted = fleet.compose("exec", "-T", f"bot-{me}", "ls", "/run/secrets").split()
        assert sorted(mounted) == sorted(
            f"{me}_{part}" for part in ("api_key", "secret", "passphrase", "redis_password")
        )

    # The Redis health check passes as its user, and an error reply would fail it.
    redis = fleet.container("redis")
    assert redis["State"]["Health"]["Status"] == "healthy"
    assert "PONG" in redis["State"]["Health"]["Log"][-1]["Output"]
    check = redis["Config"]["Healthcheck"]["Test"][1:]
    assert fleet.compose("exec", "-T", "redis", *check).strip() == "PONG"
    for attempt in (
        [*check[:-1], "get", "anything"],
        [a if a != "healthcheck" else "nobody" for a in check],
        ["redis-cli", "-e", "ping"],
    ):
        done = fleet.compose_run("exec", "-T", "redis", *attempt, check=False, timeout=30)
        assert done.returncode != 0, (attempt, done.stdout, done.stderr)
        assert "PONG" not in done.stdout, attempt

    # One bot cannot reach another's REST API, by name, by address, or by its published port.
    for me, other, index in ((BOT, OTHER, 1), (OTHER, BOT, 0)):
        theirs = fleet.container(f"bot-{other}")["NetworkSettings"]["Networks"]
        their_ip = theirs[f"{PROJECT}_bot-{other}"]["IPAddress"]
        mine = fleet.container(f"bot-{me}")["NetworkSettings"]["Networks"]
        gateway = mine[f"{PROJECT}_bot-{me}"]["Gateway"]
        their_port = fleet.first_port + index
        tried = fleet.probe(
            f"bot-{me}",
            "connect",
            f"bot-{other}:8080",
            f"{their_ip}:8080",
            f"{gateway}:{their_port}",
            "twin:8899",
            "redis:6379",
        )
        blocked = [f"bot-{other}:8080", f"{their_ip}:8080", f"{gateway}:{their_port}"]
        assert all(tried[a] != "open" for a in blocked), tried
        assert tried["twin:8899"] == tried["redis:6379"] == "open", tried
        # ... while the operator reaches it on this machine's loopback.
        url = f"http://127.0.0.1:{their_port}/api/v1/ping"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert json.load(answer) == {"status": "pong"}


# -- what survives ----------------------------------------------------------------------------


def test_trades_memory_and_leases_survive_down_up_and_a_killed_container(
    fleet: Deployment,
) -> None:
    before_trades = fleet.closed_trade_ids()
    before_memory = fleet.memory()
    assert before_trades, "the round-trip test left no closed trade"

    # `bulkhead down` (runtime: docker): every container and network goes; the volumes stay.
    with fleet.report.phase("fleet: bulkhead down"):
        stopped = fleet.cli("down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for bot in BOTS:
        assert f"{bot}: stopped" in stopped.stdout, stopped.stdout
    assert fleet.compose("ps", "--all", "--quiet").strip() == ""
    volumes = fleet.engine("volume", "ls", "--quiet").split()
    for name in ("bot-alpha-data", "bot-beta-data", "redis-data", "twin-data"):
        assert f"{PROJECT}_{name}" in volumes

    with fleet.report.phase("fleet: bulkhead up again to healthy"):
        started = fleet.cli("up", timeout=UP_DEADLINE_S + 60)
    assert started.returncode == 0, started.stdout + started.stderr + fleet.diagnosis()
    for bot in BOTS:
        assert f"{bot}: running" in started.stdout, started.stdout
    after_trades = fleet.closed_trade_ids()
    assert after_trades[: len(before_trades)] == before_trades
    memory = fleet.memory()
    assert set(before_memory["trade_ids"]) <= set(memory["trade_ids"])
    assert set(before_memory["order_ids"]) <= set(memory["order_ids"])
    fleet.next_closed_trade(max(after_trades), "fleet: next round trip after up")

    # A second container of the same bot on its volume is refused by the lease (exit 4).
    second = fleet.compose_run(
        "run", "--rm", "--no-deps", "-T", f"bot-{BOT}", "run-bot", BOT, "--spec",
        "/config/bulkhead.yaml", check=False, timeout=120,
    )  # fmt: skip
    assert second.returncode == 4, second.stdout[-2000:] + second.stderr[-2000:]
    assert "supervisor_refused" in second.stdout + second.stderr

    # A forced kill of the bot's container (SIGKILL to its init, with a trade open): Docker
    # restarts it, the kernel has freed the lease, and it trades on, closing that trade.
    open_trade = fleet.quiet_moment()
    inspected = fleet.container(f"bot-{BOT}")
    restarts = inspected["RestartCount"]
    os.kill(inspected["State"]["Pid"], signal.SIGKILL)
    with fleet.report.phase("fleet: killed bot back to healthy"):
        fleet.poll(
            "the killed bot restarted and healthy",
            lambda: (
                (seen := fleet.container(f"bot-{BOT}"))["RestartCount"] > restarts
                and seen["State"]["Health"]["Status"] == "healthy"
            ),
            UP_DEADLINE_S,
            every=2.0,
        )
    with fleet.report.phase("fleet: trade open at the kill closed"):
        fleet.poll(
            f"trade {open_trade}, open when the container was killed, closed",
            lambda: open_trade in fleet.closed_trade_ids(),
            TRADE_DEADLINE_S,
        )

    # Stopped at a quiet moment, nothing is in flight: every book must agree.
    fleet.quiet_moment()
    fleet.compose("stop", f"bot-{BOT}", timeout=120)
    check_books(fleet)
    status = json.loads((fleet.bot_files() / "status.json").read_text())
    assert status["state"] == "stopped", status
    fleet.report.facts["closed trades on the twin"] = str(len(fleet.closed_trade_ids()))
