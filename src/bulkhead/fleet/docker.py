"""The Docker runtime: a fleet's bots as services of its generated Compose project.

With ``runtime: docker`` the commands an operator already knows (``bulkhead up``, ``down``,
``restart``, ``status``, ``logs``) drive the project that ``bulkhead compose`` writes beside
bulkhead.yaml, through the Docker Compose v2 CLI (``docker compose``), so there is one way
to operate a bot whichever runtime runs it. Everything here returns what happened; nothing
prints.

- ``write_project``: the Compose file, the memory secrets, each bot's gateway credential
  and, with a twin, a first scenario for it (``bulkhead compose``).
- ``up`` / ``restart``: ``compose up -d`` (recreating for a restart), then wait until each
  service is healthy, or say why it is not; ``secret_problems`` first, so a missing or
  unreadable secret file is named before any container starts.
- ``down``: ``compose down`` for the whole project (containers and networks go; volumes,
  and with them trades, memory and leases, stay), or stop and remove the named services.
- ``status`` (``compose ps --all --format json``), ``snapshot`` (a bot's trades and profit,
  read inside its container from Freqtrade's REST API), ``logs`` (``compose logs``: the
  JSON events the supervisor and Freqtrade write).

The twin's keys for a rehearsal are ``twin_keys.py``'s.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from bulkhead.config.models import Bot, Fleet
from bulkhead.errors import OperatorError
from bulkhead.fleet.compose import (
    SPEC_IN_CONTAINER,
    compose_document,
    service_name,
    write_compose,
)
from bulkhead.fleet.containers import BOT_UID, HOST_SECRETS
from bulkhead.fleet.ftapi import BotSnapshot
from bulkhead.fleet.gateway_service import CREDENTIAL_PART, write_gateway_credentials
from bulkhead.fleet.redis_service import REDIS_IMAGE, write_memory_secrets
from bulkhead.fleet.twin_service import SCENARIO_HEADER, TwinService, twin_scenario
from bulkhead.plumbing import WaitTimeout, wait_until

COMPOSE_FILE = "docker-compose.yml"
#: a bot is healthy once Freqtrade answers (checked every 15 s); unhealthy only after its
#: 3-minute start period
START_TIMEOUT_S = 240.0
POLL_S = 2.0
COMMAND_TIMEOUT_S = 600.0
#: the permissions a twin key of a bot should have: trade-only
TRADE_ONLY = frozenset({"General", "Spot"})

#: run inside a bot's container: its Freqtrade REST API, as ``bulkhead status`` reads it
#: (its login never leaves the container). argv[1] is the bot's name.
SNAPSHOT_SCRIPT = f"""
import dataclasses, json, sys
from pathlib import Path
from bulkhead.config.workspace import Workspace
from bulkhead.fleet.ftapi import snapshot
paths = Workspace.for_spec(Path({SPEC_IN_CONTAINER!r})).bot(sys.argv[1])
print(json.dumps(dataclasses.asdict(snapshot(paths))))
"""


class DockerError(OperatorError, RuntimeError):
    """docker or its Compose plugin is missing, or a command of it failed: stop and tell
    the operator (the message says which command, and what it printed). Exit 1, as a bot
    that did not come up: the spec itself (exit 2) was fine."""

    exit_code: ClassVar[int] = 1


Run = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
Stream = Callable[[Sequence[str]], Iterator[str]]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - docker, with arguments we built
        list(command), capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT_S
    )


def _stream(command: Sequence[str]) -> Iterator[str]:
    """The command's output (stderr merged into stdout) line by line, as it comes; raises
    DockerError at the end if it failed."""
    process = subprocess.Popen(  # noqa: S603 - docker, with arguments we built
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    tail: list[str] = []
    try:
        for line in process.stdout:
            tail = [*tail[-19:], line]
            yield line.rstrip("\n")
    finally:
        if process.poll() is None:
            process.terminate()
        code = process.wait()
    if code != 0:
        raise DockerError(f"{' '.join(command[:4])} ... exited {code}: {''.join(tail).strip()}")


@dataclass(frozen=True)
class Project:
    """A Compose project on disk: ``directory/file``, driven with ``docker compose``."""

    directory: Path
    file: str = COMPOSE_FILE
    docker: str = "docker"
    run: Run = field(default=_run, repr=False)
    stream: Stream = field(default=_stream, repr=False)

    @classmethod
    def for_spec(cls, spec: Path, *, docker: str = "docker") -> Project:
        """The project ``bulkhead compose`` writes beside ``spec``."""
        return cls(spec.resolve().parent, docker=docker)

    @property
    def path(self) -> Path:
        return self.directory / self.file

    def command(self, *args: str) -> list[str]:
        return [
            self.docker,
            "compose",
            "--project-directory",
            str(self.directory),
            "--file",
            str(self.path),
            *args,
        ]

    def call(self, *args: str) -> str:
        """``docker compose ARGS``; its stdout, or DockerError with what it printed."""
        if not self.path.exists():
            raise DockerError(f"{self.path} does not exist: write it with `bulkhead compose`")
        command = self.command(*args)
        try:
            done = self.run(command)
        except FileNotFoundError:
            raise DockerError(
                f"{self.docker!r} not found: install Docker Engine and the Compose v2 plugin"
            ) from None
        except subprocess.TimeoutExpired:
            raise DockerError(f"docker compose {' '.join(args)}: no answer in time") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            if "is not a docker command" in said or "unknown command" in said:
                said = "the Compose v2 plugin (`docker compose`) is missing; " + said
            raise DockerError(f"docker compose {' '.join(args)} exited {done.returncode}: {said}")
        return done.stdout

    def document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.path.read_text())
        return loaded

    def services(self) -> list[str]:
        return list(self.document().get("services", {}))


# -- writing the project --------------------------------------------------------------------


def write_project(
    fleet: Fleet,
    spec: Path,
    *,
    output: Path | None = None,
    image: str = "bulkhead:latest",
    cpus: float = 0.5,
    memory: str = "512m",
    redis_image: str = REDIS_IMAGE,
    twin: TwinService | None = None,
    project: str = "bulkhead",
) -> list[Path]:
    """Write the Compose file (``output``, default docker-compose.yml beside ``spec``), the
    memory secrets and the bots' gateway credentials beside it (``secrets/``) and, with a
    twin whose scenario file does not exist yet, a scenario drafted from the fleet; the
    files written, the Compose file last.

    Raises ValueError for settings Compose would refuse (see ``compose_document``).
    """
    output = output if output is not None else spec.parent / COMPOSE_FILE
    spec_path = os.path.relpath(spec.resolve(), output.parent.resolve())
    document = compose_document(
        fleet,
        image=image,
        spec_path=f"./{Path(spec_path).as_posix()}",
        cpus=cpus,
        memory=memory,
        redis_image=redis_image,
        twin=twin,
        project=project,
    )
    written = write_memory_secrets(fleet, output.parent / HOST_SECRETS)
    written += write_gateway_credentials(fleet, output.parent / HOST_SECRETS)
    if twin is not None:
        scenario = output.parent / twin.scenario
        if not scenario.exists():  # the user's own is never rewritten
            scenario.parent.mkdir(parents=True, exist_ok=True)
            body = yaml.safe_dump(twin_scenario(fleet), sort_keys=False)
            scenario.write_text(SCENARIO_HEADER + body)
            written.append(scenario)
    write_compose(document, output)
    return [*written, output]


def _readable_by(path: Path, uid: int) -> bool:
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & 0o400)
    if info.st_gid == uid:  # the image's ftuser group has the uid's number
        return bool(info.st_mode & 0o040)
    return bool(info.st_mode & 0o004)


def _with_dependencies(document: dict[str, Any], services: Sequence[str]) -> list[str]:
    """The services and, transitively, those they depend on; all when none are named."""
    every: dict[str, Any] = document.get("services", {})
    if not services:
        return list(every)
    found: list[str] = []
    todo = list(services)
    while todo:
        name = todo.pop(0)
        if name in found or name not in every:
            continue
        found.append(name)
        todo.extend(every[name].get("depends_on", {}))
    return found


def secret_problems(project: Project, services: Sequence[str] = ()) -> list[str]:
    """What would keep the services (all when none are named, and what they depend on)
    from starting or from reading their secrets, one line each: a secret file missing,
    empty or unreadable by uid 1000 (the bots', the gateway's and the twin's user), a
    gateway credential that uid 1000 would refuse (owned by another user, or readable by
    others), or a file a service mounts (spec, scenario, ACL file) missing."""
    document = project.document()
    declared: dict[str, Any] = document.get("secrets", {})
    problems: list[str] = []
    for service in _with_dependencies(document, services):
        body = document["services"][service]
        for mount in body.get("secrets", []):
            name = mount["source"] if isinstance(mount, dict) else str(mount)
            problems += _secret_file_problems(project.directory, name, declared[name]["file"])
        for volume in body.get("volumes", []):
            if volume.get("type") == "bind" and not (project.directory / volume["source"]).exists():
                problems.append(f"{volume['source']}: missing (mounted by {service})")
    return list(dict.fromkeys(problems))


def _secret_file_problems(directory: Path, name: str, relative: str) -> list[str]:
    path = directory / relative
    if not path.is_file():
        return [f"{relative}: missing (secret {name})"]
    info = path.stat()
    if info.st_size == 0:
        return [f"{relative}: empty (secret {name})"]
    fix = f"chown {BOT_UID} {relative} && chmod 0400 {relative}"
    if not _readable_by(path, BOT_UID):
        return [f"{relative}: not readable by uid {BOT_UID}, the containers' user ({fix})"]
    if name.endswith(f"_{CREDENTIAL_PART}") and (info.st_uid != BOT_UID or info.st_mode & 0o077):
        # custody.load_credential refuses it in the container: others may know it
        return [f"{relative}: a gateway credential must be uid {BOT_UID}'s alone ({fix})"]
    return []


# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    """One service's container as ``docker compose ps`` sees it."""

    service: str
    #: created, running, restarting, paused, exited, dead; "absent" without a container
    state: str
    #: healthy, unhealthy, starting; "" for a service without a health check
    health: str = ""
    exit_code: int | None = None
    container: str = ""
    #: Docker's own words, e.g. "Up 2 minutes (healthy)"
    status: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "")

    def describe(self) -> str:
        """One word or two for a status table: running, starting, unhealthy, exited (3)…"""
        if self.state == "running":
            return {"healthy": "running", "": "running"}.get(self.health, self.health)
        if self.state in ("exited", "dead") and self.exit_code is not None:
            return f"{self.state} ({self.exit_code})"
        return self.state


def parse_ps(output: str) -> list[dict[str, Any]]:
    """``compose ps --format json``: one object per line (Compose >= 2.21), or one array."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        loaded: list[dict[str, Any]] = json.loads(text)
        return loaded
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def status(project: Project, services: Sequence[str] = ()) -> dict[str, ServiceState]:
    """Each service's container (every service of the project when none are named); a
    named service without a container is "absent"."""
    found: dict[str, ServiceState] = {}
    for entry in parse_ps(project.call("ps", "--all", "--format", "json")):
        name = str(entry.get("Service", ""))
        code = entry.get("ExitCode")
        found[name] = ServiceState(
            service=name,
            state=str(entry.get("State", "")).lower(),
            health=str(entry.get("Health", "") or "").lower(),
            exit_code=int(code) if code is not None else None,
            container=str(entry.get("Name", "")),
            status=str(entry.get("Status", "")),
        )
    wanted = list(services) or project.services()
    return {name: found.get(name, ServiceState(name, "absent")) for name in wanted}


def snapshot(project: Project, bot: str) -> BotSnapshot:
    """The bot's open trades, stake committed and profit, read in its container."""
    try:
        output = project.call("exec", "-T", f"bot-{bot}", "python", "-c", SNAPSHOT_SCRIPT, bot)
        data = json.loads(output.strip().splitlines()[-1])
    except (DockerError, ValueError, IndexError) as error:
        reason = "container not running" if isinstance(error, DockerError) else "bad answer"
        return BotSnapshot(reachable=False, error=reason)
    return BotSnapshot(**data)


# -- up, restart, down ----------------------------------------------------------------------


@dataclass(frozen=True)
class StartResult:
    """How a service came up: running (healthy), or why not (exited, failing, unhealthy,
    still starting when the wait ended)."""

    service: str
    state: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "running"


def bot_services(bots: Sequence[Bot]) -> list[str]:
    return [service_name(bot) for bot in bots]


def up(
    project: Project,
    services: Sequence[str] = (),
    *,
    wait_s: float = START_TIMEOUT_S,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StartResult]:
    """``compose up -d`` the services (all when none are named; what they depend on
    starts first), then wait up to ``wait_s`` for each to be healthy.

    Raises DockerError, before anything starts, when ``secret_problems`` finds any.
    """
    _refuse_problems(project, services)
    project.call("up", "--detach", *services)
    return wait_ready(project, services, wait_s=wait_s, poll_s=poll_s, clock=clock, sleep=sleep)


def restart(
    project: Project,
    services: Sequence[str],
    *,
    wait_s: float = START_TIMEOUT_S,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StartResult]:
    """Recreate the services' containers (a graceful stop, then a fresh container from the
    current image and Compose file: a new lease, a freshly rendered config; the volumes
    stay), then wait as ``up`` does. What they depend on is left running."""
    _refuse_problems(project, services)
    project.call("up", "--detach", "--force-recreate", "--no-deps", *services)
    return wait_ready(project, services, wait_s=wait_s, poll_s=poll_s, clock=clock, sleep=sleep)


def _refuse_problems(project: Project, services: Sequence[str]) -> None:
    problems = secret_problems(project, services)
    if problems:
        raise DockerError("nothing started:\n  " + "\n  ".join(problems))


def wait_ready(
    project: Project,
    services: Sequence[str] = (),
    *,
    wait_s: float = START_TIMEOUT_S,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StartResult]:
    """Poll ``status`` until every service is healthy (or running, without a check), has
    exited or keeps restarting, or ``wait_s`` has passed."""
    pending = list(services) or project.services()
    results: dict[str, StartResult] = {}
    states: dict[str, ServiceState] = {}

    def all_settled() -> bool:
        nonlocal pending, states
        states = status(project, pending)
        for name, seen in states.items():
            result = _settled(seen)
            if result is not None:
                results[name] = result
        pending = [name for name in pending if name not in results]
        return not pending

    try:
        wait_until(
            all_settled, wait_s, poll_s, what="the services to settle", clock=clock, sleep=sleep
        )
    except WaitTimeout:
        for name in pending:
            results[name] = StartResult(name, "starting", f"still {states[name].describe()}")
    order = list(services) or list(results)
    return [results[name] for name in order]


def _settled(seen: ServiceState) -> StartResult | None:
    if seen.ready:
        return StartResult(seen.service, "running", seen.container)
    if seen.state in ("exited", "dead"):
        return StartResult(seen.service, "exited", f"exit code {seen.exit_code}")
    if seen.state == "restarting":
        return StartResult(seen.service, "failing", "exits and is restarted")
    if seen.health == "unhealthy":
        return StartResult(seen.service, "unhealthy", seen.status)
    if seen.state == "absent":
        return StartResult(seen.service, "absent", "no container")
    return None


def down(project: Project, services: Sequence[str] = ()) -> dict[str, bool]:
    """Stop gracefully (each service's stop_grace_period) and remove the containers: the
    whole project when no service is named (networks too), else those services. Volumes
    are never removed. Which services had a running container."""
    before = status(project, services)
    if services:
        project.call("rm", "--stop", "--force", *services)
    else:
        project.call("down")
    return {name: seen.state in ("running", "restarting") for name, seen in before.items()}


# -- logs -----------------------------------------------------------------------------------


def logs(project: Project, service: str, *, lines: int = 50, follow: bool = False) -> Iterator[str]:
    """The service's last ``lines`` log lines (JSON events for a bot: the supervisor's and
    Freqtrade's), then, with ``follow``, every new one until the caller stops reading."""
    if not project.path.exists():
        raise DockerError(f"{project.path} does not exist: write it with `bulkhead compose`")
    args = ["logs", "--no-color", "--no-log-prefix", "--tail", str(lines)]
    if follow:
        args.append("--follow")
    return project.stream(project.command(*args, service))
