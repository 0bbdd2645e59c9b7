"""Where a deployment keeps each bot's files: one directory per bot, nothing shared.

``<root>/.bulkhead/bots/<bot>/`` holds the rendered Freqtrade config, its user_data,
database, logs, the REST API credentials and the supervisor's lock; ``<root>`` is the
directory of bulkhead.yaml. Keeping them apart is one of the compartment's walls: no bot
can read another's database or config by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BotPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def user_data(self) -> Path:
        return self.root / "user_data"

    @property
    def database(self) -> Path:
        return self.root / "tradesv3.sqlite"

    @property
    def api_credentials(self) -> Path:
        return self.root / "api.json"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "bot.jsonl"

    @property
    def freqtrade_log(self) -> Path:
        return self.root / "logs" / "freqtrade.jsonl"

    @property
    def lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def advised_params(self) -> Path:
        """Strategy parameters the advisor's accepted proposals set, by Freqtrade space;
        laid over the spec's at every render, so they outlive restarts."""
        return self.root / "advised_params.json"

    @property
    def pid(self) -> Path:
        return self.root / "supervisor.pid"

    @property
    def status(self) -> Path:
        return self.root / "status.json"


@dataclass(frozen=True)
class GatewayPaths:
    """The order gateway's folder: the bots' gateway credentials (0600), its state file
    (where it listens, which bots it serves), its lease and its log."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "gateway.json"

    @property
    def lock(self) -> Path:
        return self.root / "gateway.lock"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "gateway.jsonl"

    @property
    def output(self) -> Path:
        return self.root / "logs" / "gateway.out"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_spec(cls, spec_path: Path) -> Workspace:
        return cls(spec_path.resolve().parent / ".bulkhead")

    def bot(self, name: str) -> BotPaths:
        return BotPaths(self.root / "bots" / name)

    @property
    def gateway(self) -> GatewayPaths:
        return GatewayPaths(self.root / "gateway")
