"""Run a real ``Supervisor`` over the stand-in Freqtrade, in its own process, so a test
can SIGKILL it: ``run_supervisor.py SPEC BEHAVIOUR``. Exits with the supervisor's code."""

from __future__ import annotations

import sys
from pathlib import Path

from bulkhead.config.loader import load_fleet
from bulkhead.config.workspace import Workspace
from bulkhead.fleet.backoff import Backoff
from bulkhead.fleet.gateway_access import GatewayAccess
from bulkhead.fleet.supervisor import Supervisor, SupervisorSettings
from bulkhead.gateway.custody import GatewayCredential

STANDIN = Path(__file__).with_name("standin_freqtrade.py")
#: what the bot's Freqtrade is given instead of its KuCoin key (no gateway listens there:
#: the stand-in never calls it)
GATEWAY = GatewayAccess(
    "http://127.0.0.1:9", GatewayCredential("bot1", "gw-key", "gw-secret", "gw-passphrase")
)


def build(spec: Path, behaviour: str, **settings: object) -> Supervisor:
    bot = load_fleet(spec).bots[0]
    paths = Workspace.for_spec(spec).bot(bot.name)
    chosen: dict[str, object] = {
        "gateway": lambda: GATEWAY,
        "freqtrade": (sys.executable, str(STANDIN), behaviour),
        "healthy": lambda p: (p.root / "trading").exists(),
        "backoff": Backoff(initial_s=0.05, maximum_s=0.2),
        **settings,
    }
    return Supervisor(SupervisorSettings(bot, paths, **chosen))  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(build(Path(sys.argv[1]), sys.argv[2]).run())
