"""With ``runtime: docker`` the commands a user knows drive the Compose project, and say
plainly what is missing instead of falling back to local processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bulkhead.cli.main import build_app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"
runner = CliRunner()


def docker_spec(folder: Path) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["runtime"] = "docker"
    document["bots"][0]["exchange"] = {"target": "http://twin:8899", "remote_twin": True}
    path = folder / "bulkhead.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("command", [["status"], ["logs", "bot1"], ["down"]])
def test_a_docker_fleet_without_its_compose_file_is_told_to_write_it(
    tmp_path: Path, command: list[str]
):
    spec = docker_spec(tmp_path)
    result = runner.invoke(build_app(), [*command, "--spec", str(spec)])
    assert result.exit_code == 1, result.output
    assert "docker-compose.yml does not exist: write it with `bulkhead compose`" in result.output
    assert not (tmp_path / ".bulkhead").exists()  # nothing ran as a local process


def test_an_unknown_runtime_is_a_spec_error(tmp_path: Path):
    spec = docker_spec(tmp_path)
    spec.write_text(spec.read_text().replace("runtime: docker", "runtime: podman"))
    result = runner.invoke(build_app(), ["status", "--spec", str(spec)])
    assert result.exit_code == 2
    assert "runtime: Input should be 'local' or 'docker' (got 'podman')" in result.output
