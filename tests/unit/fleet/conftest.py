"""Shared by the fleet's unit tests: the supervisor's events are captured at INFO."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def supervisor_events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bulkhead.supervisor")
