"""`bulkhead advise`, `bulkhead advice list|show|accept|reject` and `bulkhead llm usage`, as
an operator types them: the spec's advisor talks to the fake provider, memory is a real
Redis, the strategy is the bundled TwinScalper with its declared ``hold_seconds``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from advisorkit import API_KEY, fleet_document
from typer.testing import CliRunner, Result

from bulkhead.cli.main import build_app
from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.sim.llm import FakeProvider, Step

runner = CliRunner()


@pytest.fixture
def operator(tmp_path: Path, fake: tuple[str, FakeProvider]):
    base, provider = fake
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    admin = server.ensure_running()
    document = fleet_document(base, "anthropic")
    document["memory"] = {"redis_url": admin.url, "admin_password": {"env": "TEST_REDIS_ADMIN"}}
    spec = tmp_path / "deploy" / "bulkhead.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(document))
    env = {"TEST_REDIS_ADMIN": admin.password, "LLM_API_KEY": API_KEY}

    def run(*args: str) -> Result:
        return runner.invoke(build_app(), [*args, "--spec", str(spec)], env=env)

    yield run, provider
    server.stop()


def test_advise_then_accept_reject_and_usage(operator) -> None:
    run, provider = operator
    provider.add(
        Step.tool_calls(
            [
                (
                    "propose_parameter_change",
                    json.dumps(
                        {"name": "hold_seconds", "value": 20, "reason": "fees eat the edge"}
                    ),
                ),
                ("pause_pair", json.dumps({"pair": "BTC/USDT", "reason": "losing"})),
                (
                    "propose_parameter_change",
                    json.dumps({"name": "hold_seconds", "value": 30, "reason": "second thought"}),
                ),
            ],
            input_tokens=1500,
            output_tokens=90,
        )
    )
    advised = run("advise", "bot1")
    assert advised.exit_code == 0, advised.output
    assert "advised" in advised.output
    assert advised.output.count("pending") == 2
    assert "applied" in advised.output

    pending = run("advice", "list", "bot1", "--status", "pending")
    ids = [line.split()[0] for line in pending.output.splitlines() if "pending" in line]
    assert len(ids) == 2
    shown = run("advice", "show", "bot1", ids[0])
    assert json.loads(shown.output)["arguments"]["value"] == 20

    accepted = run("advice", "accept", "bot1", ids[0])
    assert accepted.exit_code == 0, accepted.output
    assert "hold_seconds: 10 -> 20" in accepted.output
    rejected = run("advice", "reject", "bot1", ids[1])
    assert rejected.exit_code == 0
    assert "rejected" in rejected.output
    again = run("advice", "accept", "bot1", ids[1])
    assert again.exit_code == 2
    assert "only a pending one" in again.output
    unknown = run("advice", "show", "bot1", "nope")
    assert unknown.exit_code == 2

    usage = run("llm", "usage", "--format", "json")
    assert usage.exit_code == 0, usage.output
    rows = json.loads(usage.output)
    assert rows["bot1"]["day"]["calls"] == 1
    assert rows["bot1"]["day"]["input_tokens"] == 1500
    assert rows["(fleet)"]["month"]["spent_eur"] == rows["bot1"]["month"]["spent_eur"] > 0
    table = run("llm", "usage", "bot1")
    assert "claude-haiku-4-5" in table.output
    assert "bot1" in table.output


def test_bad_arguments_get_clear_errors(operator) -> None:
    run, _ = operator
    assert run("advice", "list", "bot1", "--status", "maybe").exit_code == 2
    assert run("advice", "list", "nobot").exit_code == 2
    assert run("llm", "usage", "--format", "xml").exit_code == 2
