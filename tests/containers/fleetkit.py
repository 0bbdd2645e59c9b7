"""The container tests' deployment: two bots on one twin in the generated Compose project,
driven as an operator would, and looked into from the host and from inside its containers.

``alpha`` trades live (TwinScalper, a round trip a minute), ``beta`` runs dry; both
through the project's order gateway, which alone holds their keys and alone reaches the
twin. The project is written by ``bulkhead compose --twin`` and its keys by ``bulkhead
twin-keys``; it runs through the Docker runtime (``bulkhead.fleet.docker``), which
``bulkhead up/down/status/logs`` drive with ``runtime: docker``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import containerkit
import pytest
import yaml

from bulkhead.config.models import Fleet
from bulkhead.fleet import docker
from bulkhead.plumbing import WaitTimeout, wait_until

HERE = Path(__file__).resolve().parent
PROJECT = "bulkhead-containers-test"
SERVICES = ("bot-alpha", "bot-beta", "gateway", "twin", "redis")
#: set to 1 to leave the deployment running after the tests, to look into it
KEEP_ENV = "BULKHEAD_CONTAINERS_KEEP"
BOT, OTHER = "alpha", "beta"
BOTS = (BOT, OTHER)
#: what the scenario `bulkhead compose --twin` drafts funds each bot's sub-account with
START_USDT = Decimal(100)
#: half the sub-account's funds (the drafted scenario gives twice the budget): round trips
#: lose their fees, and a stake of the whole budget would soon be more than it holds
BUDGET_USDT = 50
MASTER_USDT = Decimal(10000)
CPUS, MEMORY = 0.5, "512m"

UP_DEADLINE_S = 240.0
TRADE_DEADLINE_S = 150.0
QUIET_DEADLINE_S = 120.0
MEMORY_DEADLINE_S = 60.0
#: how long TwinScalper holds each trade (its default is 10 s), and how recently a quiet
#: moment's entry must have filled: the exit order is then at least ~15 s away
HOLD_SECONDS = 30
QUIET_ENTRY_AGE_S = 10.0
REL = 1e-9


def bot_spec(name: str, mode: str) -> dict[str, Any]:
    # the twin service, which a spec must opt in to as a twin beyond loopback
    exchange = {"target": "http://twin:8899", "remote_twin": True}
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
        # A quiet moment (entry filled, exit not yet ordered) then lasts ~25 s, so the
        # bot is stopped or killed well before its exit order (see Deployment._quiet).
        # Still a round trip a minute: Freqtrade locks the pair until the next candle
        # after every exit.
        "strategy": {"name": "TwinScalper", "params": {"hold_seconds": HOLD_SECONDS}},
        # Half the budget per stake, one pair (so one trade at a time): room for the fees
        # every round trip loses. A stake of the whole budget stops once losses pass 1 %.
        "max_open_trades": 2,
        "mode": mode,
        # Back-to-back round trips: no cooldown, and no lock after a run of small losses.
        "protections": {
            "cooldown_period": {"enabled": False},
            "low_profit_pairs": {"enabled": False},
        },
        # Memory catches up on anything missed within seconds, not a minute.
        "memory": {"reconcile_every_s": 5},
        # TwinScalper loses every round trip's fees by design: the guard's loss-streak
        # pause and loss limits would (rightly) stop it after four; the fleet test needs
        # it to trade on. The guard itself is tested in tests/e2e/test_guard_live.py.
        "risk": {"guard": {"loss_streak": 100, "daily_loss": 1.0, "weekly_loss": 1.0}},
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

    def probe(self, service: str, name: str, *args: str, stdin: str | None = None) -> Any:
        """``probe_NAME.py`` run in the service's container; in a one-off container of the
        service (same image, environment, secrets and networks) when it is stopped.
        ``stdin``: what the probe reads (values that must not go on its command line)."""
        script = (HERE / f"probe_{name}.py").read_text()
        if stdin is not None:
            command = [self.engine.docker, "compose", "--project-directory", str(self.directory)]
            command += ["exec", "-T", service, "python", "-c", script, *args]
            done = containerkit.run(command, timeout=120, input_bytes=stdin.encode())
            return json.loads(done.stdout.strip().splitlines()[-1])
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

    def exchange_keys(self, bot: str) -> dict[str, str]:
        """The bot's real (twin) key, as `bulkhead twin-keys` put it in secrets/<bot>/."""
        folder = self.directory / "secrets" / bot
        return {
            f"{bot} {part}": (folder / part).read_text().strip()
            for part in ("api_key", "secret", "passphrase")
        }

    def gateway_credential(self, bot: str) -> dict[str, str]:
        """The bot's gateway credential, as `bulkhead compose` generated it."""
        loaded: dict[str, str] = json.loads(
            (self.directory / "secrets" / bot / "gateway_credential").read_text()
        )
        return loaded

    def secret_values(self) -> set[str]:
        """Every secret of the deployment: the files under secrets/ (the secret and the
        passphrase of each gateway credential), each bot's REST API login (in its volume),
        and the twin keys' secrets."""
        values: set[str] = set()
        for path in (self.directory / "secrets").rglob("*"):
            if not path.is_file() or path.name == "users.acl":
                continue
            if path.name == "gateway_credential":
                credential = json.loads(path.read_text())
                values |= {credential["secret"], credential["passphrase"]}
            else:
                values.add(path.read_text().strip())
        for bot in BOTS:
            api = json.loads((self.bot_files(bot) / "api.json").read_text())
            values |= {str(api[key]) for key in ("password", "jwt_secret_key", "ws_token")}
        return {value for value in values if len(value) >= 8}

    def diagnosis(self) -> str:
        parts = [self.compose("ps", "--all", check=False)]
        for service in SERVICES:
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

        def tolerant() -> Any:
            with contextlib.suppress(AssertionError, OSError, ValueError):
                return probe()
            return None

        try:
            return wait_until(tolerant, deadline_s, every, what=what)
        except WaitTimeout as timeout:
            pytest.fail(f"{timeout}\n{detail()}\n{self.diagnosis()}")

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
        no entry or exit in flight: nothing the twin did that Freqtrade has not seen. The
        entry filled within QUIET_ENTRY_AGE_S, so its exit is not about to be ordered."""
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
        filled = entries[0]["order_filled_date"] or entries[0]["order_date"]
        filled_at = datetime.fromisoformat(filled).replace(tzinfo=UTC).timestamp()
        if time.time() - filled_at > QUIET_ENTRY_AGE_S:
            return None
        return int(trades[0]["id"])


@contextlib.contextmanager
def deploy(
    engine: containerkit.Engine, images: containerkit.Images, report: containerkit.Report
) -> Iterator[Deployment]:
    """The project in a folder of its own, written by ``bulkhead compose --twin``; taken
    down with its volumes afterwards (kept with BULKHEAD_CONTAINERS_KEEP=1)."""
    # Not under pytest's basetemp: another pytest session on this machine may prune it.
    directory = Path(tempfile.mkdtemp(prefix="bulkhead-containers-"))
    directory.chmod(0o755)
    spec = directory / "bulkhead.yaml"
    document: dict[str, Any] = {
        "version": 1,
        "bots": [bot_spec(BOT, "live"), bot_spec(OTHER, "dry_run")],
    }
    if wired():
        document["runtime"] = "docker"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    deployment = Deployment(
        engine=engine,
        images=images,
        report=report,
        directory=directory,
        spec=spec,
        project=docker.Project(directory, docker=engine.docker),
    )
    written = deployment.cli(
        "compose",
        "--twin",
        "--image",
        images.bulkhead,
        "--redis-image",
        images.redis,
        "--project",
        PROJECT,
        "--cpus",
        str(CPUS),
        "--memory",
        MEMORY,
    )
    assert written.returncode == 0, written.stdout + written.stderr
    assert (directory / "sim.yaml").exists(), "no scenario drafted for the twin"
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


# -- the books ---------------------------------------------------------------------------------


def memory_matches(fleet: Deployment, filled: set[str], seen: list[str]) -> dict[str, Any] | None:
    memory = fleet.memory()
    remembered = set(memory["order_ids"])
    seen[:] = [
        f"filled on the twin, not in memory: {sorted(filled - remembered)}; "
        f"in memory, not filled on the twin: {sorted(remembered - filled)}"
    ]
    return memory if remembered == filled else None


def check_books(fleet: Deployment) -> None:
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
        lambda: memory_matches(fleet, set(fills), difference),
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
    master = users["master"]["accounts"]["main"]["USDT"]
    assert (Decimal(master["balance"]), Decimal(master["holds"])) == (MASTER_USDT, 0)
    others = users[OTHER]["accounts"]["trade"]
    assert {c: Decimal(b["balance"]) for c, b in others.items()} == {"USDT": START_USDT}
