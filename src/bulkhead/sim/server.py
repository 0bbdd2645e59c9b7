"""Build a twin from a scenario or snapshot and serve it with uvicorn.

Also offers ``TwinServer``, a twin on a background thread, which tests and the demo use
to run a real HTTP twin inside their own process.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from bulkhead.kucoin.serving import BackgroundServer, uvicorn_config
from bulkhead.sim.app import TwinApp
from bulkhead.sim.engine import Twin, TwinConfigError
from bulkhead.sim.scenario import apply_scenario, credentials, load_scenario, write_credentials


@dataclass(frozen=True)
class Prepared:
    twin: Twin
    credentials: list[dict[str, object]]
    credentials_path: Path | None


def prepare(
    scenario_path: Path | None,
    *,
    state_path: Path | None = None,
    credentials_out: Path | None = None,
) -> Prepared:
    """A twin from its saved state when there is one, else fresh from the scenario.

    Restarting on a snapshot keeps balances, keys and orders; the scenario is only the
    first-boot recipe, so its credentials file is written only then.
    """
    if state_path is not None and state_path.exists():
        # The snapshot remembers where its replay files live; a scenario given again wins.
        base_dir = _base_dir(scenario_path) if scenario_path is not None else None
        return Prepared(Twin.load(state_path, base_dir=base_dir), [], None)
    twin = Twin.empty(base_dir=_base_dir(scenario_path))
    creds: list[dict[str, object]] = []
    target = credentials_out
    if scenario_path is not None:
        scenario = load_scenario(scenario_path)
        try:
            keys = apply_scenario(twin, scenario)
        except TwinConfigError:
            raise
        except ValueError as error:
            # The scenario's price data and symbol settings are the operator's: a missing
            # or unreadable recording, a bad increment (prices/SymbolSpec say ValueError).
            raise TwinConfigError(f"scenario {scenario_path}: {error}") from error
        creds = credentials(twin, keys)
        if target is None and scenario.credentials_out:
            target = scenario_path.parent / scenario.credentials_out
    if target is not None:
        write_credentials(target, creds)
    return Prepared(twin, creds, target)


def _base_dir(scenario_path: Path | None) -> Path:
    return scenario_path.parent.resolve() if scenario_path else Path.cwd()


def serve(app: TwinApp, host: str, port: int, *, quiet: bool = True) -> None:
    """Serve ``app`` on HOST:PORT in this thread until interrupted (Ctrl-C)."""
    # The twin keeps every order in memory: move the set-up objects out of the
    # collector's way and collect young objects less often (fewer long GC pauses).
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    uvicorn.Server(uvicorn_config(app, host, port, quiet=quiet)).run()


class TwinServer(BackgroundServer):
    """A real HTTP twin on a background thread: ``with TwinServer(twin) as server: ...``."""

    app: TwinApp

    def __init__(self, twin: Twin, port: int | None = None, **app_options: object) -> None:
        self.twin = twin
        super().__init__(TwinApp(twin, **app_options), port, name="twin")  # type: ignore[arg-type]

    def __enter__(self) -> TwinServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
