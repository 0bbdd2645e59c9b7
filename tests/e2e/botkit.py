"""Helpers shared by the end-to-end tests: the ``bulkhead`` CLI run as an operator would,
a bot's logs and status file, its processes, waiting with a deadline, Freqtrade's database.

Test modules here ``import botkit``: with pytest's default ("prepend") import mode and no
``__init__.py`` under tests/, this folder is put on ``sys.path`` before they are imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from bulkhead.config.workspace import BotPaths
from bulkhead.plumbing import WaitTimeout, wait_until, write_private
from bulkhead.sim.engine import Twin
from bulkhead.sim.models import Fill
from bulkhead.sim.server import TwinServer, prepare

#: the variables the example spec's credentials come from; the .env beside a spec supplies them
CREDENTIAL_ENV = {
    "apiKey": "BOT1_KUCOIN_API_KEY",
    "secret": "BOT1_KUCOIN_API_SECRET",
    "passphrase": "BOT1_KUCOIN_API_PASSPHRASE",
}
COMMAND_TIMEOUT_S = 150  # `up` itself waits up to 120 s for the bot to run
#: the twin the end-to-end tests trade on: sub-account bot1 and its trade-only key
SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "sim.yaml"
BOT_KEY = "bot1-trade"


# -- the twin -------------------------------------------------------------------------------


@dataclass
class Rig:
    """A twin serving on a free port, its keys by name, and a folder for the test's files."""

    twin: Twin
    url: str
    root: Path
    keys: dict[str, dict[str, str]]

    @property
    def key(self) -> dict[str, str]:
        """The trade-only key of sub-account bot1."""
        return self.keys[BOT_KEY]


@contextlib.contextmanager
def twin_rig(root: Path, scenario: Path = SCENARIO) -> Iterator[Rig]:
    """A fresh twin from ``scenario``. Its credentials file is kept in ``root``, outside
    every spec folder, so a secret scan of a bot's files never finds it by construction."""
    prepared = prepare(scenario, credentials_out=root / "twin-creds.json")
    keys = {str(c["name"]): {k: str(v) for k, v in c.items()} for c in prepared.credentials}
    with TwinServer(prepared.twin) as server:
        yield Rig(twin=prepared.twin, url=server.url, root=root, keys=keys)


# -- specs and commands ---------------------------------------------------------------------


def write_spec(directory: Path, text: str, key: dict[str, str]) -> Path:
    """``text`` as DIRECTORY/bulkhead.yaml, and a .env (0600) with ``key`` beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = directory / "bulkhead.yaml"
    spec.write_text(text)
    env = "".join(f"{var}={key[part]}\n" for part, var in CREDENTIAL_ENV.items())
    write_private(directory / ".env", env)
    return spec


def environment(drop: tuple[str, ...] = ()) -> dict[str, str]:
    """Ours, minus anything that would override the spec's .env or point elsewhere, and
    minus every variable whose name starts with one of ``drop``.

    Also minus pytest's own variables: Freqtrade skips its ``log_config`` (and so
    Bulkhead's JSON log file and redaction) whenever PYTEST_VERSION is set, and an
    operator's shell never has it.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name not in CREDENTIAL_ENV.values()
        and name != "BULKHEAD_SPEC"
        and not name.startswith(("FREQTRADE__", "PYTEST_", *drop))
    } | {"COLUMNS": "200"}


def cli(
    spec: Path, *args: str, timeout: float = COMMAND_TIMEOUT_S, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``python -m bulkhead ARGS --spec SPEC`` run to completion in the spec's folder, in
    ``environment(drop)``."""
    return subprocess.run(
        [sys.executable, "-m", "bulkhead", *args, "--spec", str(spec)],
        cwd=spec.parent,
        env=environment(drop),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def shown(done: subprocess.CompletedProcess[str]) -> str:
    """A finished command's exit code and output, for a failure message."""
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


# -- logs, status, waiting ------------------------------------------------------------------


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def events(path: Path, *names: str, since: float = 0.0) -> list[dict[str, Any]]:
    """The JSON lines of a log (others skipped), only the events ``names`` if any are
    given, and only those logged at or after ``since`` (a Unix time) if it is given."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or (names and entry.get("event") not in names):
            continue
        if since and when(entry) < since - 0.002:  # the log keeps milliseconds
            continue
        found.append(entry)
    return found


def when(entry: dict[str, Any]) -> float:
    """The Unix time a log entry was written."""
    return datetime.fromisoformat(str(entry["time"])).timestamp()


def status(paths: BotPaths) -> dict[str, Any]:
    """The bot's status.json; empty while it is missing or half written."""
    try:
        loaded: dict[str, Any] = json.loads(paths.status.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def poll(
    what: str,
    probe: Callable[[], Any],
    deadline_s: float,
    diagnosis: Callable[[], str],
    every: float = 0.5,
) -> Any:
    """``probe()`` once it is truthy, tried every ``every`` s; at the deadline, a failure
    that says ``what`` was awaited, followed by ``diagnosis()``."""
    try:
        return wait_until(probe, deadline_s, every, what=what)
    except WaitTimeout as timeout:
        pytest.fail(f"{timeout}\n{diagnosis()}")


# -- processes ------------------------------------------------------------------------------


class Process(NamedTuple):
    """A live process and its command line."""

    pid: int
    command: str


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (dead, not yet reaped by init) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


def cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments joined by spaces; "" once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def processes(text: str, *, running_inside: bool = False) -> list[Process]:
    """Live processes (other than this one) whose command line contains ``text``; with
    ``running_inside``, also those whose working directory starts with it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        command = cmdline(pid)
        try:
            cwd = os.readlink(entry / "cwd") if running_inside else ""
        except OSError:
            continue
        inside = text in command or (running_inside and cwd.startswith(text))
        if inside and alive(pid):
            found.append(Process(pid, command))
    return found


def bring_down(
    spec: Path, *mentioning: str, running_inside: bool = False, drop: tuple[str, ...] = ()
) -> list[Process]:
    """``bulkhead down`` for the whole spec (every bot, and its embedded Redis); then, for
    each text of ``mentioning`` in turn, SIGKILL whatever ``processes(text,
    running_inside=running_inside)`` still finds. What had to be killed."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        cli(spec, "down", drop=drop)
    killed = []
    for text in mentioning:
        for process in processes(text, running_inside=running_inside):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
            killed.append(process)
    return killed


# -- Freqtrade's database, the twin's accounts ----------------------------------------------


def rows(database: Path, query: str) -> list[sqlite3.Row]:
    """``query`` on Freqtrade's database, read-only; no rows while it is missing or locked."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            db.row_factory = sqlite3.Row
            return db.execute(query).fetchall()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return []


def closed_trades(database: Path) -> int:
    """How many trades Freqtrade's database holds closed (0 while it cannot be read)."""
    counted = rows(database, "SELECT count(*) FROM trades WHERE is_open = 0")
    return int(counted[0][0]) if counted else 0


def balances(accounts: dict[str, Any]) -> dict[str, Any]:
    """A twin user's accounts as plain (balance, holds) per currency, to compare."""
    return {
        account: {cur: (b.balance, b.holds) for cur, b in per.items()}
        for account, per in accounts.items()
    }


def moved_by(fills: Iterable[Fill], start: dict[str, Decimal]) -> dict[str, Decimal]:
    """What an account holds per currency: ``start``, plus what each fill bought, minus
    what it sold or paid, and minus its fee."""
    expected = dict(start)
    for f in fills:
        base, quote = f.symbol.split("-")
        sign = 1 if f.side == "buy" else -1
        expected[base] = expected.get(base, Decimal(0)) + sign * f.size
        expected[quote] = expected.get(quote, Decimal(0)) - sign * f.funds
        expected[f.fee_currency] = expected.get(f.fee_currency, Decimal(0)) - f.fee
    return expected
