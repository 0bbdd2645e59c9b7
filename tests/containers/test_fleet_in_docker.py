"""The fleet in real containers: the image, the generated Compose project with a twin, its
walls, and what survives ``down``/``up`` and a killed container.

Two bots on one twin: ``alpha`` trades live (TwinScalper, a round trip a minute),
``beta`` runs dry, each through the order gateway (bot -> gateway -> twin), which alone
holds their keys; the bots sit on internal networks that lead only to the gateway and
Redis. Everything goes through what a user runs: ``bulkhead compose --twin``, ``bulkhead
twin-keys``, and the Docker runtime (``bulkhead.fleet.docker``, which ``bulkhead up/down/
status/logs`` drive with ``runtime: docker``). The tests run in file order on one
deployment; each polls with a deadline and fails with the state of every container.

Traffic stays on this machine: the containers talk over the project's own bridge networks,
the test only into the containers it started and to their addresses on those networks.
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

PARTS = ("api_key", "secret", "passphrase")
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
    # `bulkhead up`'s way: the bots, and what they depend on first (Redis, the gateway).
    fleet.up([f"bot-{bot}" for bot in BOTS], "fleet: gateway and bots up to healthy")

    first = fleet.next_closed_trade(0, "fleet: first round trip after healthy")
    assert first >= 1

    # The bot traded through the gateway with its gateway credential; the logs are the
    # JSON events, secrets redacted.
    entries, plain, lines = _events(fleet, f"bot-{BOT}")
    names = Counter(str(e.get("event")) for e in entries)
    access = [e for e in entries if e.get("event") == "gateway_access"]
    assert access, "no gateway_access event\n" + "\n".join(lines[-40:])
    assert access[0]["url"] == "http://gateway:8090", access[0]
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

    # The gateway ran the preflight on alpha's real key, serves both bots, and forwarded
    # alpha's orders to the twin; none of its log lines shows a secret either.
    gateway, _, gateway_lines = _events(fleet, "gateway")
    preflight = [e for e in gateway if e.get("event") == "gateway_preflight"]
    assert [(e["bot"], e["passed"]) for e in preflight] == [(BOT, True)], preflight
    serving = [e for e in gateway if e.get("event") == "gateway_serving"]
    assert serving, "\n".join(gateway_lines[-40:])
    assert serving[-1]["bots"] == {b: {"served": True, "reason": ""} for b in BOTS}
    forwarded = [e for e in gateway if e.get("event") == "gateway_forwarded"]
    assert len([e for e in forwarded if e.get("bot") == BOT]) >= 2, Counter(
        str(e.get("event")) for e in gateway
    )
    assert not [e for e in forwarded if e.get("bot") == OTHER]  # dry run: no order leaves
    assert not [line for line in gateway_lines if any(value in line for value in secrets)]
    fleet.report.facts["gateway log lines"] = f"{len(gateway)} JSON events"
    # The operator's view of the gateway's books, where they are: in the gateway's container,
    # as its own Redis user.
    guarded = json.loads(
        fleet.compose(
            "exec", "-T", "gateway", "bulkhead", "guard", BOT, "--spec", "/config/bulkhead.yaml",
            "--json",
        )
    )  # fmt: skip
    assert guarded["state"]["state"] == "ACTIVE", guarded
    assert guarded["decisions"], guarded

    # What `bulkhead status` and `bulkhead logs` show.
    states = docker.status(fleet.project)
    assert {name: s.describe() for name, s in states.items()} == {
        "bot-alpha": "running",
        "bot-beta": "running",
        "gateway": "running",
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


def _events(fleet: Deployment, service: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The service's log: its JSON events, its other lines, and all of its lines."""
    lines = list(docker.logs(fleet.project, service, lines=100_000))
    entries: list[dict[str, Any]] = []
    plain: list[str] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        (entries.append(entry) if isinstance(entry, dict) else plain.append(line))
    return entries, plain, lines


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
    services = {
        "bot-alpha": "1000",
        "bot-beta": "1000",
        "gateway": "1000",
        "twin": "1000",
        "redis": None,
    }
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
        if service.startswith("bot-") or service == "gateway":
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
        assert sorted(mounted) == [f"{me}_gateway_credential", f"{me}_redis_password"]

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

    # The gateway holds every bot's key and every gateway credential, nothing of a bot's
    # memory; its own Redis user reaches only the gateway's keys.
    held = fleet.compose("exec", "-T", "gateway", "find", "/run/secrets", "-type", "f").split()
    keys = [f"/run/secrets/{bot}_{part}" for bot in BOTS for part in PARTS]
    folder = "/run/secrets/gateway-credentials"
    credentials = [f"{folder}/{bot}.gateway-credential.json" for bot in BOTS]
    assert sorted(held) == sorted([*keys, *credentials, "/run/secrets/gateway-redis-password"])


def test_a_bots_only_way_out_is_the_gateway_and_it_holds_no_exchange_secret(
    fleet: Deployment,
) -> None:
    networks = {
        name.removeprefix(f"{PROJECT}_"): json.loads(
            fleet.engine("network", "inspect", name, "--format", "{{json .}}")
        )
        for name in fleet.engine("network", "ls", "--format", "{{.Name}}").split()
        if name.startswith(f"{PROJECT}_")
    }
    assert sorted(networks) == sorted([*(f"bot-{bot}" for bot in BOTS), "exchange"])
    # every network internal: with the twin here, even the gateway has no route off the machine
    assert {name: n["Internal"] for name, n in networks.items()} == dict.fromkeys(networks, True)

    twin = fleet.container("twin")["NetworkSettings"]["Networks"]
    assert sorted(twin) == [f"{PROJECT}_exchange"]
    twin_ip = twin[f"{PROJECT}_exchange"]["IPAddress"]
    gateway_outside = fleet.container("gateway")["NetworkSettings"]["Networks"]
    gateway_exchange_ip = gateway_outside[f"{PROJECT}_exchange"]["IPAddress"]
    for me, other in ((BOT, OTHER), (OTHER, BOT)):
        mine = fleet.container(f"bot-{me}")["NetworkSettings"]["Networks"]
        assert sorted(mine) == [f"{PROJECT}_bot-{me}"]
        theirs = fleet.container(f"bot-{other}")["NetworkSettings"]["Networks"]
        their_ip = theirs[f"{PROJECT}_bot-{other}"]["IPAddress"]
        tried = fleet.probe(
            f"bot-{me}",
            "connect",
            f"bot-{other}:8080",
            f"{their_ip}:8080",
            "twin:8899",
            f"{twin_ip}:8899",
            f"{gateway_exchange_ip}:8090",
            "gateway:8090",
            "redis:6379",
        )
        # Not another bot, not the twin (by name or address), not the gateway's outside.
        assert tried[f"bot-{other}:8080"] == tried["twin:8899"] == "no such host", tried
        for address in (f"{their_ip}:8080", f"{twin_ip}:8899", f"{gateway_exchange_ip}:8090"):
            assert tried[address] != "open", tried
        assert tried["gateway:8090"] == tried["redis:6379"] == "open", tried
        # ... while the operator reaches its REST API from this machine, at its address.
        url = f"http://{mine[f'{PROJECT}_bot-{me}']['IPAddress']}:8080/api/v1/ping"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert json.load(answer) == {"status": "pong"}

        # No exchange secret of any bot anywhere in the bot's container: not in any
        # process's environment or command line, not in a file it can see (its secrets,
        # its spec and workspace, /tmp). Its gateway credential is found: the search works.
        credential = fleet.gateway_credential(me)
        needles = {**fleet.exchange_keys(me), **fleet.exchange_keys(other)}
        needles["own gateway secret"] = credential["secret"]
        needles["other's gateway secret"] = fleet.gateway_credential(other)["secret"]
        searched = fleet.probe(
            f"bot-{me}", "secrets", "/run/secrets", "/config", "/tmp", stdin=json.dumps(needles)
        )
        found = searched["found"]
        assert found.pop("own gateway secret"), searched
        assert not {label: places for label, places in found.items() if places}, searched
        assert searched["searched"] >= 5, searched
    fleet.report.facts["bot networks"] = "internal; twin and other bots unreachable"


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
    for name in ("bot-alpha-data", "bot-beta-data", "gateway-data", "redis-data", "twin-data"):
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
