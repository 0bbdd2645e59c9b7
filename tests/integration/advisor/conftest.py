"""Fixtures: a real Redis (the bundled server) and the fake provider on a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from advisorkit import API_KEY

from bulkhead.memory.server import ManagedRedis, bundled_redis_server
from bulkhead.sim.llm import FakeProvider, serve_fake_provider


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    server = ManagedRedis(tmp_path / "redis", bundled_redis_server())
    connection = server.ensure_running().client(socket_timeout=10, socket_connect_timeout=2)
    yield connection
    connection.close()
    server.stop()


@pytest.fixture
def fake() -> Iterator[tuple[str, FakeProvider]]:
    with serve_fake_provider(api_key=API_KEY) as served:
        yield served


@pytest.fixture(params=["openai", "anthropic"])
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)
