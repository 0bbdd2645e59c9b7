"""Fixtures: a real KuCoin twin on a background thread, and real ccxt clients against it.

Every test gets a fresh twin built from ``examples/sim.yaml`` (master "master" with
10,000 USDT in main, sub-account "bot1" with 100 USDT in trade, keys "bot1-trade" and
"master-admin"), so tests never see each other's orders or balances. The ``trader``
fixture runs a test twice: once as the classic sub-account, once as a high-frequency
(HF) sub-account that trades from ``trade_hf``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from simkit import Account, Sim, Trader, account, start_twin


@contextmanager
def _serving(workdir: Path) -> Iterator[Sim]:
    """A twin from examples/sim.yaml on real HTTP, stopped (client closed) afterwards."""
    server, creds = start_twin(workdir)
    with server:
        running = Sim(server, creds)
        try:
            yield running
        finally:
            running.http.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    """A fresh twin for this test only."""
    with _serving(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def market_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """A twin shared by a module's read-only tests (market data, time, status)."""
    with _serving(tmp_path_factory.mktemp("market")) as running:
        yield running


@pytest.fixture(params=["classic", "hf"])
def trader(request: pytest.FixtureRequest, sim: Sim) -> Trader:
    """The bot's view: classic sub-account "bot1", or a fresh HF sub-account "bot-hf"."""
    chosen = account(sim, request.param)
    return Trader(**vars(chosen), exchange=sim.client(chosen.key))


@pytest.fixture(scope="module", params=["classic", "hf"])
def shared_account(request: pytest.FixtureRequest, market_sim: Sim) -> Account:
    """A classic or HF account on the module's shared twin, for tests that change nothing."""
    return account(market_sim, request.param)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hostile: random and malformed requests against the twin (hypothesis; part of the "
        "normal run, a minute at most; -m hostile runs only these)",
    )
