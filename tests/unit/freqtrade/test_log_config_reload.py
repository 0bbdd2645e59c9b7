"""Freqtrade applies the rendered log_config again at every reload_config: Bulkhead's own
loggers (guard, recorder, layer) must keep logging afterwards."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path

import yaml

from bulkhead.config.models import Fleet
from bulkhead.config.workspace import BotPaths
from bulkhead.freqtrade.config import log_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"


def test_a_second_application_leaves_existing_loggers_on(tmp_path: Path) -> None:
    bot = Fleet.model_validate(yaml.safe_load(EXAMPLE.read_text())).bots[0]
    paths = BotPaths(tmp_path / "bot1")
    paths.freqtrade_log.parent.mkdir(parents=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        config = log_config(bot, paths)
        logging.config.dictConfig(config)
        guard_logger = logging.getLogger("bulkhead.guard.reload_probe")
        logging.config.dictConfig(config)  # what reload_config does
        assert not guard_logger.disabled
        guard_logger.info("after the reload")
        for handler in root.handlers:
            handler.flush()
        assert "after the reload" in paths.freqtrade_log.read_text()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
