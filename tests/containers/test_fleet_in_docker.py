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

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import containerkit
import pytest
import yaml
from packaging.requirements import Requirement

from bulkhead.config.models import Exchange, Fleet
from bulkhead.fleet import docker

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

HERE = Path(__file__).resolve().parent
PROJECT = "bulkhead-containers-test"
#: set to 1 to leave the deployment running after the tests, to look into it
KEEP_ENV = "BULKHEAD_CONTAINERS_KEEP"
BOT, OTHER = "alpha", "beta"
BOTS = (BOT, OTHER)
START_USDT = Decimal(100)
#: half the sub-account's funds: round trips lose their fees, and a stake of the whole
#: budget would soon be more than the account holds
BUDGET_USDT = 50
MASTER_USDT = Decimal(10000)
CPUS, MEMORY = 0.5, "512m"

UP_DEADLINE_S = 240.0
TRADE_DEADLINE_S = 150.0
QUIET_DEADLINE_S = 120.0
MEMORY_DEADLINE_S = 60.0
REL = 1e-9

SCENARIO = {
    "status": "open",
    "master": {"name": "master", "balances": {"main": {"USDT": int(MASTER_USDT)}}},
    "subaccounts": [
        {"name": name, "balances": {"trade": {"USDT": int(START_USDT)}}} for name in BOTS
    ],
    "keys": [
        {"name": f"{name}-trade", "user": name, "permissions": ["General", "Spot"]} for name in BOTS
    ],
    # Synthetic prices: the twin's container sees only its scenario file.
    "symbols": [
        {
            "symbol": "XRP-USDT",
            "source": {"kind": "synthetic", "seed": 11, "start_price": 0.5, "volatility": 0.001},
        }
    ],
}
#: Freqtrade's pre-configuration lines (before it applies the rendered log_config)
FREQTRADE_PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.]+ - [A-Z]+ - ")


def _bot(name: str, mode: str) -> dict[str, Any]:
    exchange: dict[str, Any] = {"target": "http://twin:8899"}
    if "remote_twin" in Exchange.model_fields:
        exchange["remote_twin"] = True
    prefix = name.upper()
    return {
        "name": name,
        "exchange": exchange,
        "subaccount": name,
        "credentials": {
            "api_key": {"env": f"{prefix}_KUCOIN_API_KEY"},
            "secret": {"env": f"{prefix}_KUCOIN_API_SECRET"},
            "passphrase": {"env": f"{prefix}_KUCOIN_API_PASSPHRASE"},
        },
        "budget": {"amount": BUDGET_USDT},
        "pairs": ["XRP/USDT"],
        "timeframe": "1m",
        "strategy": {"name": "TwinScalper"},
        "mode": mode,
        # Back-to-back round trips: no cooldown, and no lock after a run of small losses.
        "protections": {
            "cooldown_period": {"enabled": False},
            "low_profit_pairs": {"enabled": False},
        },
        # Memory catches up on anything missed within seconds, not a minute.
        "memory": {"reconcile_every_s": 5},
    }


def wired() -> bool:
    """Whether bulkhead.yaml has ``runtime`` (and so `bulkhead status/logs` drive Docker)."""
    return "runtime" in Fleet.model_fields


# -- the deployment -------------------------------------------------------------------------


@dataclass
class Deployment:
    engine: containerkit.Engine
    images: containerkit.Images
    report: containerkit.Report
    directory: Path
    spec: Path
    project: docker.Project
    first_port: int

    # -- driving it ------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``python -m bulkhead ARGS --spec SPEC`` in the project's folder."""
        return subprocess.run(
            [sys.executable, "-m", "bulkhead", *args, "--spec", str(self.spec)],
            cwd=self.directory,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        """``docker compose ARGS`` in the project's folder; its stdout."""
        return self.compose_run(*args, timeout=timeout, check=check).stdout

    def compose_run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [self.engine.docker, "compose", "--project-directory", str(self.directory)]
        return containerkit.run([*command, *args], timeout=timeout, check=check)

    def probe(self, service: str, name: str, *args: str) -> Any:
        """``probe_NAME.py`` run in the service's container; in a one-off container of the
        service (same image, environment, secrets and networks) when it is stopped."""
        script = (HERE / f"probe_{name}.py").read_text()
        if docker.status(self.project, [service])[service].state == "running":
            return containerkit.probe(self.engine, self.directory, service, script, *args)
        out = self.compose(
            "run", "--rm", "--no-deps", "-T", "--entrypoint", "python", service, "-c", script,
            *args,
        )  # fmt: skip
        return json.loads(out.strip().splitlines()[-1])

    def container(self, service: str) -> dict[str, Any]:
        name = docker.status(self.project, [service])[service].container
        assert name, f"{service} has no container\n{self.diagnosis()}"
        return containerkit.inspect(self.engine, name)

    # -- looking at it ---------------------------------------------------------------------

    def bot_files(self, bot: str = BOT) -> Path:
        """The bot's workspace in its volume, read from the host."""
        volume = containerkit.volume_path(self.engine, f"{PROJECT}_bot-{bot}-data")
        return volume / "bots" / bot

    def rows(self, query: str, bot: str = BOT) -> list[dict[str, Any]]:
        return containerkit.rows(self.bot_files(bot) / "tradesv3.sqlite", query)

    def closed_trade_ids(self) -> list[int]:
        return [r["id"] for r in self.rows("SELECT id FROM trades WHERE is_open = 0 ORDER BY id")]

    def memory(self) -> dict[str, Any]:
        found: dict[str, Any] = self.probe(f"bot-{BOT}", "memory", BOT)
        return found

    def twin_books(self) -> dict[str, Any]:
        found: dict[str, Any] = self.probe("twin", "twin")
        return found

    def secret_values(self) -> set[str]:
        """Every secret of the deployment: the files under secrets/, each bot's REST API
        login (in its volume), and the twin keys' secrets."""
        values = {
            path.read_text().strip()
            for path in (self.directory / "secrets").rglob("*")
            if path.is_file() and path.name != "users.acl"
        }
        for bot in BOTS:
            api = json.loads((self.bot_files(bot) / "api.json").read_text())
            values |= {str(api[key]) for key in ("password", "jwt_secret_key", "ws_token")}
        return {value for value in values if len(value) >= 8}

    def diagnosis(self) -> str:
        parts = [self.compose("ps", "--all", check=False)]
        for service in ("bot-alpha", "bot-beta", "twin", "redis"):
            logs = self.compose("logs", "--no-color", "--tail", "25", service, check=False)
            parts.append(f"--- {service} ---\n{logs}")
        return "\n".join(parts)

    def poll(
        self,
        what: str,
        probe: Callable[[], Any],
        deadline_s: float,
        every: float = 1.0,
        detail: Callable[[], str] = lambda: "",
    ) -> Any:
        """``probe()`` once it is truthy; at the deadline, a failure saying what was awaited,
        ``detail()`` and the state of every container."""
        deadline = time.monotonic() + deadline_s
        while True:
            with contextlib.suppress(AssertionError, OSError, ValueError):
                found = probe()
                if found:
                    return found
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{what}: not within {deadline_s:.0f} s\n{detail()}\n{self.diagnosis()}"
                )
            time.sleep(every)

    def up(self, services: list[str], phase: str) -> None:
        with self.report.phase(phase):
            results = docker.up(self.project, services, wait_s=UP_DEADLINE_S)
        failed = [r for r in results if not r.ok]
        assert not failed, f"{failed}\n{self.diagnosis()}"

    def next_closed_trade(self, after: int, phase: str) -> int:
        with self.report.phase(phase):
            return int(
                self.poll(
                    f"a trade closed after trade {after}",
                    lambda: max([i for i in self.closed_trade_ids() if i > after], default=0),
                    TRADE_DEADLINE_S,
                )
            )

    def quiet_moment(self) -> int:
        """Wait for an open trade whose entry filled and whose stop Freqtrade recorded, with
        no entry or exit in flight: nothing the twin did that Freqtrade has not seen."""
        return int(self.poll("a quiet moment", self._quiet, QUIET_DEADLINE_S, every=0.2))

    def _quiet(self) -> int | None:
        trades = self.rows("SELECT id FROM trades WHERE is_open = 1")
        orders = self.rows("SELECT * FROM orders")
        moves = [o for o in orders if o["ft_order_side"] in ("buy", "sell")]
        if len(trades) != 1 or any(o["ft_is_open"] for o in moves):
            return None
        mine = [o for o in orders if o["ft_trade_id"] == trades[0]["id"]]
        entries = [o for o in mine if o["ft_order_side"] == "buy" and o["filled"]]
        stops = [o for o in mine if o["ft_order_side"] == "stoploss" and o["ft_is_open"]]
        if len(entries) != 1 or len(stops) != 1:
            return None
        return int(trades[0]["id"])


@pytest.fixture(scope="module")
def fleet(
    engine: containerkit.Engine, images: containerkit.Images, report: containerkit.Report
) -> Iterator[Deployment]:
    # Not under pytest's basetemp: another pytest session on this machine may prune it.
    directory = Path(tempfile.mkdtemp(prefix="bulkhead-containers-"))
    directory.chmod(0o755)
    spec = directory / "bulkhead.yaml"
    document: dict[str, Any] = {"version": 1, "bots": [_bot(BOT, "live"), _bot(OTHER, "dry_run")]}
    if wired():
        document["runtime"] = "docker"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    (directory / "sim.yaml").write_text(yaml.safe_dump(SCENARIO, sort_keys=False))
    deployment = Deployment(
        engine=engine,
        images=images,
        report=report,
        directory=directory,
        spec=spec,
        project=docker.Project(directory, docker=engine.docker),
        first_port=containerkit.free_port_pair(),
    )
    written = deployment.cli(
        "compose",
        "--twin",
        "--image",
        images.bulkhead,
        "--redis-image",
        images.redis,
        "--first-port",
        str(deployment.first_port),
        "--project",
        PROJECT,
        "--cpus",
        str(CPUS),
        "--memory",
        MEMORY,
    )
    assert written.returncode == 0, written.stdout + written.stderr
    # Leftovers of an interrupted earlier run would hold the project's names and volumes.
    deployment.compose("down", "--volumes", "--remove-orphans", check=False)
    started = time.monotonic()
    try:
        yield deployment
    finally:
        report.timings["fleet: whole run"] = round(time.monotonic() - started, 1)
        if os.environ.get(KEEP_ENV) == "1":
            report.facts["kept for a look"] = f"{directory} ({KEEP_ENV}=1)"
        else:
            with report.phase("fleet: down --volumes"):
                deployment.compose("down", "--volumes", "--remove-orphans", "--timeout", "20")
            shutil.rmtree(directory)


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


def _memory_matches(fleet: Deployment, filled: set[str], seen: list[str]) -> dict[str, Any] | None:
    memory = fleet.memory()
    remembered = set(memory["order_ids"])
    seen[:] = [
        f"filled on the twin, not in memory: {sorted(filled - remembered)}; "
        f"in memory, not filled on the twin: {sorted(remembered - filled)}"
    ]
    return memory if remembered == filled else None


def _check_books(fleet: Deployment) -> None:
    """Freqtrade's database, the bot's memory and the twin's books tell one story."""
    books = fleet.twin_books()
    users = books["users"]
    alpha_uid = users[BOT]["uid"]
    fills: dict[str, list[dict[str, Any]]] = {}
    for fill in books["fills"]:
        assert fill["uid"] == alpha_uid, f"a fill outside alpha's sub-account: {fill}"
        fills.setdefault(fill["order_id"], []).append(fill)
    assert fills, "the twin filled nothing"

    orders = {r["order_id"]: r for r in fleet.rows("SELECT * FROM orders")}
    unseen = sorted(i for i in fills if not (orders.get(i) or {}).get("filled"))
    assert not unseen, f"filled on the twin, not in Freqtrade's database: {unseen}"
    for order_id, mine in fills.items():
        row = orders[order_id]
        size = sum(Decimal(f["size"]) for f in mine)
        funds = sum(Decimal(f["funds"]) for f in mine)
        assert row["filled"] == pytest.approx(float(size), rel=REL), order_id
        assert row["cost"] == pytest.approx(float(funds), rel=REL), order_id

    difference: list[str] = []
    memory = fleet.poll(
        "memory to hold exactly the twin's filled orders",
        lambda: _memory_matches(fleet, set(fills), difference),
        MEMORY_DEADLINE_S,
        detail=lambda: "; ".join(difference),
    )
    for index in ("order_ids", "trade_ids"):
        assert len(memory[index]) == len(set(memory[index])), f"{index} recorded twice"
    assert memory["order_hashes"] == len(memory["order_ids"])
    assert memory["trade_hashes"] == len(memory["trade_ids"])
    for announced in ("order_recorded", "trade_closed"):
        twice = {k: n for k, n in Counter(memory[announced]).items() if n > 1}
        assert not twice, f"{announced} more than once: {twice}"
    closed = fleet.closed_trade_ids()
    remembered = {t["trade_id"]: t for t in memory["trades"]}
    assert set(closed) <= set(remembered), sorted(set(closed) - set(remembered))
    assert all(not remembered[i]["is_open"] for i in closed)
    assert Counter(memory["trade_closed"]) == Counter(str(i) for i in closed)

    # The twin's own books: alpha's account moved by exactly its fills; nobody else moved.
    expected: dict[str, Decimal] = {"USDT": START_USDT}
    for fill in books["fills"]:
        base, quote = fill["symbol"].split("-")
        sign = 1 if fill["side"] == "buy" else -1
        expected[base] = expected.get(base, Decimal(0)) + sign * Decimal(fill["size"])
        expected[quote] = expected.get(quote, Decimal(0)) - sign * Decimal(fill["funds"])
        currency = fill["fee_currency"]
        expected[currency] = expected.get(currency, Decimal(0)) - Decimal(fill["fee"])
    held = {c: Decimal(b["balance"]) for c, b in users[BOT]["accounts"]["trade"].items()}
    assert {c: v for c, v in held.items() if v} == {c: v for c, v in expected.items() if v}
    assert users["master"]["accounts"] == {
        "main": {"USDT": {"balance": "10000", "holds": "0", "available": "10000"}}
    }
    assert {c: b["balance"] for c, b in users[OTHER]["accounts"]["trade"].items()} == {
        "USDT": "100"
    }


def test_trades_memory_and_leases_survive_down_up_and_a_killed_container(
    fleet: Deployment,
) -> None:
    before_trades = fleet.closed_trade_ids()
    before_memory = fleet.memory()
    assert before_trades, "the round-trip test left no closed trade"

    # down: every container and network goes; the volumes stay.
    with fleet.report.phase("fleet: compose down"):
        stopped = docker.down(fleet.project)
    assert all(stopped.values()), stopped
    assert fleet.compose("ps", "--all", "--quiet").strip() == ""
    volumes = fleet.engine("volume", "ls", "--quiet").split()
    for name in ("bot-alpha-data", "bot-beta-data", "redis-data", "twin-data"):
        assert f"{PROJECT}_{name}" in volumes

    fleet.up([], "fleet: compose up again to healthy")
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
    _check_books(fleet)
    status = json.loads((fleet.bot_files() / "status.json").read_text())
    assert status["state"] == "stopped", status
    fleet.report.facts["closed trades on the twin"] = str(len(fleet.closed_trade_ids()))
