"""The container tests' engine and images, once per session, and what they measured.

They run only when asked (``make test-containers`` sets BULKHEAD_CONTAINERS=1), since they
install and start a Docker engine; ``make test`` deselects them by their marker. When no
engine can be had they skip, saying why, except under BULKHEAD_REQUIRE_CONTAINERS=1 (set
by ``.ci/run``), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import containerkit
import pytest

REPORT = pytest.StashKey[containerkit.Report]()


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> containerkit.Report:
    found = containerkit.Report()
    request.config.stash[REPORT] = found
    return found


def _no_engine(reason: str) -> None:
    if os.environ.get(containerkit.REQUIRE_ENV) == "1":
        pytest.fail(f"{containerkit.REQUIRE_ENV}=1, but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine(report: containerkit.Report) -> Iterator[containerkit.Engine]:
    if os.environ.get(containerkit.ENABLE_ENV) != "1":
        _no_engine(
            f"container tests run with `make test-containers` ({containerkit.ENABLE_ENV}=1): "
            "they install and start Docker Engine"
        )
    try:
        found = containerkit.ensure_engine(report)
    except containerkit.Unavailable as error:
        _no_engine(f"no container engine can be had: {error}")
        raise  # unreachable: _no_engine skips or fails
    try:
        yield found
    finally:
        with report.phase("engine: stop dockerd"):
            found.stop()


@pytest.fixture(scope="session")
def images(engine: containerkit.Engine, report: containerkit.Report) -> containerkit.Images:
    return containerkit.build_images(engine, report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    found = terminalreporter.config.stash.get(REPORT, None)
    if found is None or not (found.timings or found.facts):
        return
    terminalreporter.section("containers: timings and sizes")
    for line in found.lines():
        terminalreporter.write_line(line)
