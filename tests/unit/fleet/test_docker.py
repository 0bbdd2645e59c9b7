"""The Docker runtime's domain side, with ``docker`` replaced by a recording fake.

What ``docker compose`` itself does is tested in real containers (tests/containers); here:
the commands built, how their answers are read, what is refused before anything starts,
and how waiting decides.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from bulkhead.config.models import Fleet
from bulkhead.fleet import docker, twin_keys
from bulkhead.fleet.twin_service import TwinService

Answer = Callable[[list[str]], "subprocess.CompletedProcess[str] | str"]


class FakeDocker:
    """Records every command; answers with ``answer(args after 'compose ...')``."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.calls: list[list[str]] = []
        self.streamed: list[list[str]] = []
        self.answer = answer or (lambda args: "")

    def run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        command = list(command)
        self.calls.append(command)
        found = self.answer(compose_args(command))
        if isinstance(found, str):
            return subprocess.CompletedProcess(command, 0, found, "")
        return found

    def stream(self, command: Sequence[str]) -> Iterator[str]:
        self.streamed.append(list(command))
        yield from ['{"event": "supervisor_start"}', '{"event": "preflight"}']

    def verbs(self) -> list[str]:
        return [compose_args(c)[0] for c in self.calls]


def compose_args(command: list[str]) -> list[str]:
    """What follows ``docker compose --project-directory D --file F``."""
    assert command[1] == "compose"
    return command[6:]


def ps(*services: tuple[str, str, str]) -> str:
    """``compose ps --format json`` output (one object per line) for (service, state,
    health) triples."""
    return "\n".join(
        json.dumps(
            {
                "Service": name,
                "Name": f"bulkhead-{name}-1",
                "State": state,
                "Health": health,
                "ExitCode": 3 if state == "exited" else 0,
                "Status": f"{state} ({health})",
            }
        )
        for name, state, health in services
    )


def twin_fleet() -> Fleet:
    exchange = {"target": "http://twin:8899", "remote_twin": True}

    def bot(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "exchange": exchange,
            "subaccount": f"{name}-sub",
            "credentials": {
                part: {"env": f"{name.upper()}_{part.upper()}"}
                for part in ("api_key", "secret", "passphrase")
            },
            "budget": {"amount": 50},
            "pairs": ["XRP/USDT"],
            "strategy": {"name": "TwinScalper"},
            "mode": "live",
        }

    return Fleet.model_validate({"version": 1, "bots": [bot("alpha"), bot("beta")]})


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text("# the fleet is built in code\n")
    docker.write_project(twin_fleet(), spec, twin=TwinService())
    return tmp_path


def make(project_dir: Path, fake: FakeDocker) -> docker.Project:
    return docker.Project(project_dir, docker="/usr/bin/docker", run=fake.run, stream=fake.stream)


def write_keys(project_dir: Path, *bots: str) -> None:
    for bot in bots:
        for part in ("api_key", "secret", "passphrase"):
            path = project_dir / "secrets" / bot / part
            path.write_text(f"{bot}-{part}\n")
            path.chmod(0o644)  # readable by uid 1000 whoever runs the test


# -- commands -------------------------------------------------------------------------------


def test_every_command_is_docker_compose_on_the_projects_own_file(project_dir):
    project = docker.Project(project_dir, docker="/usr/bin/docker")
    assert project.command("ps") == [
        "/usr/bin/docker",
        "compose",
        "--project-directory",
        str(project_dir),
        "--file",
        str(project_dir / "docker-compose.yml"),
        "ps",
    ]


def test_the_project_of_a_spec_is_the_one_beside_it(project_dir):
    project = docker.Project.for_spec(project_dir / "bulkhead.yaml")
    assert project.path == project_dir / "docker-compose.yml"


def test_a_failing_command_raises_with_what_docker_said(project_dir):
    fake = FakeDocker(lambda args: subprocess.CompletedProcess(args, 1, "", "no such service"))
    with pytest.raises(docker.DockerError, match="exited 1: no such service"):
        make(project_dir, fake).call("ps")


def test_a_missing_compose_plugin_is_named(project_dir):
    said = "docker: 'compose' is not a docker command."
    fake = FakeDocker(lambda args: subprocess.CompletedProcess(args, 1, "", said))
    with pytest.raises(docker.DockerError, match="Compose v2 plugin"):
        make(project_dir, fake).call("ps")


def test_a_missing_docker_is_named(project_dir):
    def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    project = docker.Project(project_dir, docker="nodocker", run=run)
    with pytest.raises(docker.DockerError, match="'nodocker' not found"):
        project.call("ps")


def test_a_project_not_written_yet_is_named(tmp_path):
    fake = FakeDocker()
    with pytest.raises(docker.DockerError, match="bulkhead compose"):
        make(tmp_path, fake).call("ps")
    assert fake.calls == []


# -- writing the project --------------------------------------------------------------------


def test_the_project_mounts_the_spec_by_its_path_relative_to_the_compose_file(tmp_path):
    spec = tmp_path / "fleets" / "prod.yaml"
    spec.parent.mkdir()
    spec.write_text("")
    written = docker.write_project(
        twin_fleet(), spec, output=tmp_path / "docker-compose.yml", twin=TwinService()
    )
    assert written[-1] == tmp_path / "docker-compose.yml"
    document = yaml.safe_load(written[-1].read_text())
    sources = {v["source"] for v in document["services"]["bot-alpha"]["volumes"]}
    assert "./fleets/prod.yaml" in sources
    assert (tmp_path / "secrets" / "redis" / "users.acl").exists()
    assert (tmp_path / "secrets" / "alpha" / "redis_password") in written
    assert (tmp_path / "secrets" / "redis" / "gateway_password") in written
    for bot in ("alpha", "beta"):
        assert (tmp_path / "secrets" / bot / "gateway_credential") in written


def test_the_gateway_credentials_are_generated_once_and_kept(tmp_path):
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text("")
    docker.write_project(twin_fleet(), spec, twin=TwinService())
    path = tmp_path / "secrets" / "alpha" / "gateway_credential"
    first = path.read_text()
    assert json.loads(first)["bot"] == "alpha"
    again = docker.write_project(twin_fleet(), spec, twin=TwinService())
    assert path not in again
    assert path.read_text() == first


def test_a_twin_scenario_is_drafted_once_and_never_rewritten(tmp_path):
    spec = tmp_path / "bulkhead.yaml"
    spec.write_text("")
    written = docker.write_project(twin_fleet(), spec, twin=TwinService())
    scenario = tmp_path / "sim.yaml"
    assert scenario in written
    assert "drafted by bulkhead compose --twin" in scenario.read_text()
    scenario.write_text("# mine\n")
    again = docker.write_project(twin_fleet(), spec, twin=TwinService())
    assert scenario not in again
    assert scenario.read_text() == "# mine\n"


# -- refused before anything starts ---------------------------------------------------------


def test_up_names_every_missing_key_file_and_starts_nothing(project_dir):
    fake = FakeDocker()
    with pytest.raises(docker.DockerError) as refused:
        docker.up(make(project_dir, fake), ["bot-alpha"])
    message = str(refused.value)
    # The bot needs its gateway, which holds every bot's key: all of them are named.
    for bot in ("alpha", "beta"):
        for part in ("api_key", "secret", "passphrase"):
            assert f"./secrets/{bot}/{part}: missing" in message
    # What compose wrote is there: credentials and passwords are not named.
    assert "gateway_credential" not in message
    assert "password" not in message
    assert fake.calls == []


def test_a_bot_whose_keys_are_all_there_starts(project_dir):
    write_keys(project_dir, "alpha", "beta")
    assert docker.secret_problems(make(project_dir, FakeDocker()), ["bot-alpha"]) == []


def test_the_twin_starts_before_any_bot_has_its_key(project_dir):
    fake = FakeDocker(lambda args: ps(("twin", "running", "healthy")) if args[0] == "ps" else "")
    results = docker.up(make(project_dir, fake), ["twin"], wait_s=0)
    assert fake.verbs() == ["up", "ps"]
    assert results == [docker.StartResult("twin", "running", "bulkhead-twin-1")]


def test_a_missing_scenario_is_named(project_dir):
    (project_dir / "sim.yaml").unlink()
    assert "./sim.yaml: missing (mounted by twin)" in docker.secret_problems(
        make(project_dir, FakeDocker()), ["twin"]
    )


def test_an_empty_key_file_is_named(project_dir):
    write_keys(project_dir, "alpha", "beta")
    (project_dir / "secrets" / "alpha" / "secret").write_text("")
    problems = docker.secret_problems(make(project_dir, FakeDocker()), ["bot-alpha"])
    assert problems == ["./secrets/alpha/secret: empty (secret alpha_secret)"]


def test_a_key_file_uid_1000_cannot_read_is_named(project_dir):
    write_keys(project_dir, "alpha", "beta")
    (project_dir / "secrets" / "alpha" / "secret").chmod(0o600)
    problems = docker.secret_problems(make(project_dir, FakeDocker()), ["bot-alpha"])
    if os.geteuid() == 1000:
        assert problems == []
    else:
        assert len(problems) == 1
        assert "not readable by uid 1000" in problems[0]
        assert "chown 1000 ./secrets/alpha/secret" in problems[0]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_gateway_credential_others_may_read_is_named(project_dir, mode):
    write_keys(project_dir, "alpha", "beta")
    credential = project_dir / "secrets" / "alpha" / "gateway_credential"
    credential.chmod(mode)
    problems = docker.secret_problems(make(project_dir, FakeDocker()), ["bot-alpha"])
    assert len(problems) == 1, problems
    assert problems[0].startswith("./secrets/alpha/gateway_credential: ")
    assert "chown 1000" in problems[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_gateway_credential_another_user_owns_is_named(project_dir):
    write_keys(project_dir, "alpha", "beta")
    credential = project_dir / "secrets" / "beta" / "gateway_credential"
    os.chown(credential, 1001, 1001)
    credential.chmod(0o644)  # readable by uid 1000, and still refused in the container
    problems = docker.secret_problems(make(project_dir, FakeDocker()), ["bot-beta"])
    assert problems == [
        "./secrets/beta/gateway_credential: a gateway credential must be uid 1000's alone "
        "(chown 1000 ./secrets/beta/gateway_credential && chmod 0400 "
        "./secrets/beta/gateway_credential)"
    ]


# -- up, restart, down ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def answers(*ps_outputs: str) -> Answer:
    """``ps`` answers in turn (the last one repeated); anything else answers ""."""
    queue = list(ps_outputs)

    def answer(args: list[str]) -> str:
        if args[0] != "ps":
            return ""
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return answer


def test_up_waits_until_each_bot_is_healthy(project_dir):
    write_keys(project_dir, "alpha", "beta")
    fake = FakeDocker(
        answers(
            ps(("bot-alpha", "running", "starting"), ("bot-beta", "created", "")),
            ps(("bot-alpha", "running", "healthy"), ("bot-beta", "running", "starting")),
            ps(("bot-alpha", "running", "healthy"), ("bot-beta", "running", "healthy")),
        )
    )
    clock = Clock()
    results = docker.up(
        make(project_dir, fake), ["bot-alpha", "bot-beta"], clock=clock, sleep=clock.sleep
    )
    assert [(r.service, r.state) for r in results] == [
        ("bot-alpha", "running"),
        ("bot-beta", "running"),
    ]
    assert fake.calls[0][-3:] == ["--detach", "bot-alpha", "bot-beta"]
    assert fake.verbs() == ["up", "ps", "ps", "ps"]


@pytest.mark.parametrize(
    ("state", "health", "expected"),
    [
        ("exited", "", ("exited", "exit code 3")),
        ("restarting", "", ("failing", "exits and is restarted")),
        ("running", "unhealthy", ("unhealthy", "running (unhealthy)")),
    ],
)
def test_up_says_why_a_bot_did_not_come_up(project_dir, state, health, expected):
    write_keys(project_dir, "alpha", "beta")
    fake = FakeDocker(answers(ps(("bot-alpha", state, health))))
    (result,) = docker.up(make(project_dir, fake), ["bot-alpha"])
    assert (result.state, result.detail) == expected
    assert not result.ok


def test_up_gives_up_waiting_at_its_deadline_and_says_the_bot_is_still_starting(project_dir):
    write_keys(project_dir, "alpha", "beta")
    fake = FakeDocker(answers(ps(("bot-alpha", "running", "starting"))))
    clock = Clock()
    (result,) = docker.up(
        make(project_dir, fake), ["bot-alpha"], wait_s=10, poll_s=2, clock=clock, sleep=clock.sleep
    )
    assert (result.state, result.detail) == ("starting", "still starting")
    assert clock.now == 10


def test_restart_recreates_the_bots_container_and_leaves_what_it_depends_on(project_dir):
    write_keys(project_dir, "alpha", "beta")
    fake = FakeDocker(answers(ps(("bot-alpha", "running", "healthy"))))
    docker.restart(make(project_dir, fake), ["bot-alpha"])
    assert compose_args(fake.calls[0]) == [
        "up",
        "--detach",
        "--force-recreate",
        "--no-deps",
        "bot-alpha",
    ]


def test_down_of_the_whole_project_keeps_the_volumes(project_dir):
    fake = FakeDocker(answers(ps(("bot-alpha", "running", "healthy"), ("redis", "exited", ""))))
    stopped = docker.down(make(project_dir, fake))
    assert compose_args(fake.calls[-1]) == ["down"]
    assert stopped == {
        "bot-alpha": True,
        "bot-beta": False,
        "gateway": False,
        "redis": False,
        "twin": False,
    }


def test_down_of_one_bot_stops_and_removes_only_its_container(project_dir):
    fake = FakeDocker(answers(ps(("bot-alpha", "running", "healthy"))))
    assert docker.down(make(project_dir, fake), ["bot-alpha"]) == {"bot-alpha": True}
    assert compose_args(fake.calls[-1]) == ["rm", "--stop", "--force", "bot-alpha"]
    assert not any("--volumes" in call or "-v" in call for call in fake.calls)


# -- status, snapshot, logs -----------------------------------------------------------------


def test_status_reads_compose_ps_lines_or_array_and_names_absent_services(project_dir):
    lines = ps(("bot-alpha", "running", "healthy"), ("redis", "exited", ""))
    array = json.dumps([json.loads(line) for line in lines.splitlines()])
    for output in (lines, array):
        states = docker.status(make(project_dir, FakeDocker(answers(output))))
        assert {name: s.describe() for name, s in states.items()} == {
            "bot-alpha": "running",
            "bot-beta": "absent",
            "gateway": "absent",
            "redis": "exited (3)",
            "twin": "absent",
        }
    assert docker.ServiceState("x", "running", "starting").describe() == "starting"


def test_status_asks_for_stopped_containers_too(project_dir):
    fake = FakeDocker(answers(""))
    docker.status(make(project_dir, fake), ["bot-alpha"])
    assert compose_args(fake.calls[0]) == ["ps", "--all", "--format", "json"]


def test_a_snapshot_is_read_inside_the_bots_container(project_dir):
    seen = {"reachable": True, "state": "running", "open_trades": 1, "committed": 49.5}
    fake = FakeDocker(lambda args: json.dumps(seen) + "\n")
    snapshot = docker.snapshot(make(project_dir, fake), "alpha")
    assert snapshot.reachable
    assert snapshot.open_trades == 1
    args = compose_args(fake.calls[0])
    assert args[:5] == ["exec", "-T", "bot-alpha", "python", "-c"]
    assert args[-1] == "alpha"
    compile(args[5], "<snapshot>", "exec")


def test_a_snapshot_of_a_stopped_bot_says_so(project_dir):
    fake = FakeDocker(lambda args: subprocess.CompletedProcess(args, 1, "", "not running"))
    snapshot = docker.snapshot(make(project_dir, fake), "alpha")
    assert not snapshot.reachable
    assert snapshot.error == "container not running"


def test_logs_follow_the_bots_service_without_prefixes(project_dir):
    fake = FakeDocker()
    lines = list(docker.logs(make(project_dir, fake), "bot-alpha", lines=20, follow=True))
    assert lines == ['{"event": "supervisor_start"}', '{"event": "preflight"}']
    assert compose_args(fake.streamed[0]) == [
        "logs",
        "--no-color",
        "--no-log-prefix",
        "--tail",
        "20",
        "--follow",
        "bot-alpha",
    ]


# -- the twin's keys ------------------------------------------------------------------------

CREDENTIALS = [
    {"name": "m", "apiKey": "k0", "secret": "s0", "passphrase": "p0", "subName": None},
    {
        "name": "a-wide",
        "apiKey": "k1",
        "secret": "s1",
        "passphrase": "p1",
        "permissions": ["General", "Spot", "Transfer"],
        "subName": "alpha-sub",
    },
    {
        "name": "a-trade",
        "apiKey": "k2",
        "secret": "s2",
        "passphrase": "p2",
        "permissions": ["General", "Spot"],
        "subName": "alpha-sub",
    },
    {
        "name": "b-trade",
        "apiKey": "k3",
        "secret": "s3",
        "passphrase": "p3",
        "permissions": ["General", "Spot"],
        "subName": "beta-sub",
    },
]


def test_a_bot_gets_the_trade_only_twin_key_of_its_own_sub_account():
    alpha = twin_fleet().bots[0]
    assert twin_keys.twin_key_for(alpha, CREDENTIALS)["name"] == "a-trade"
    with pytest.raises(twin_keys.DockerError, match="no key of sub-account alpha-sub"):
        twin_keys.twin_key_for(alpha, CREDENTIALS[:1])


def test_the_twin_keys_become_each_bots_private_secret_files(project_dir):
    fake = FakeDocker(lambda args: json.dumps(CREDENTIALS))
    written = twin_keys.write_twin_secrets(make(project_dir, fake), twin_fleet())
    assert compose_args(fake.calls[0]) == ["exec", "-T", "twin", "cat", "/data/credentials.json"]
    assert len(written) == 6
    alpha = project_dir / "secrets" / "alpha"
    assert (alpha / "api_key").read_text() == "k2\n"
    assert (project_dir / "secrets" / "beta" / "passphrase").read_text() == "p3\n"
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o600
        if os.geteuid() == 0:
            assert path.stat().st_uid == 1000
    assert docker.secret_problems(make(project_dir, fake)) == []
