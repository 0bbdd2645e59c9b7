"""The risk guard: turns the bot's equity, trades, errors and market data into a trading
state and into each entry's verdict and size, every decision an event with its numbers.

Two kinds of rule:

- **account rules** (drawdown from peak equity, daily and weekly loss, critical errors)
  decide the bot's trading state. ``on_loop`` runs them on every Freqtrade loop (and every
  candle in a backtest); a change is written through the ``StateSink`` to the gateway,
  which enforces it on every order whatever the strategy does afterwards. A REDUCING the
  guard set is lifted by the guard when its cause is gone (a new day or week; drawdown back
  under ``drawdown_recovery``), or by ``bulkhead resume``; a HALTED only by the operator.
- **entry rules** (the state, loss streak, stale or broken data, volatility regime, trade
  and pair caps) decide each entry in ``check_entry`` and ``size``.

What the guard must remember across restarts (peak equity, period starts, a tripped
drawdown, error times) lives in a ``GuardMemory``: the bot's own Redis keys live, a dict in
backtests. A memory that cannot be read counts as a critical error after
``memory_down_s``: the guard cannot vouch for a peak it does not know.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bulkhead.config.guard_rules import GuardRules
from bulkhead.guard import rules as r
from bulkhead.guard.directives import Directives, pause_verdict, stake_scale
from bulkhead.guard.insights import ClosedTrade, Insight, derive
from bulkhead.guard.rules import Decision, Regime, RegimeReading, Verdict
from bulkhead.guard.state import (
    ACTIVE,
    ERROR_WINDOW,
    HALTED,
    ORDER,
    READINGS_EVERY_S,
    REDUCING,
    UNKNOWN,
    GuardMemory,
    GuardState,
    SinkReading,
    StateSink,
)

logger = logging.getLogger("bulkhead.guard")


@dataclass(frozen=True)
class EntryVerdict:
    allowed: bool
    verdicts: tuple[Verdict, ...]
    regime: Regime

    @property
    def reason(self) -> str:
        denied = [v.reason for v in self.verdicts if v.denies]
        return "; ".join(denied)


Emit = Callable[[str, dict[str, Any]], None]


class Guard:
    """One bot's risk guard. Build once per process (``bot_start``), feed it every loop."""

    def __init__(
        self,
        rules: GuardRules,
        budget: float,
        timeframe: timedelta,
        *,
        memory: GuardMemory,
        emit: Emit,
        sink: StateSink | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.budget = budget
        self.timeframe = timeframe
        self.memory = memory
        self.emit = emit
        self.sink = sink
        self.wall_clock = wall_clock
        self.memory_down_since: float | None = None
        self._saved: dict[str, Any] | None = None
        self._saved_at = float("-inf")
        #: an entry was denied since the last save: its reading is written with the next loop
        self._denials_unsaved = False
        self.state = self._load()
        #: the last reading of every rule, for ``bulkhead guard``
        self.readings: dict[str, Verdict] = {}
        self.regimes: dict[str, RegimeReading] = {}
        #: decisions from the bot's own history (``insights``): paused pairs, stake scale
        self.paused: dict[str, Insight] = {}
        self.stake_insight: Insight | None = None
        self._next_learning: datetime | None = None
        self._noted: set[str] = set()
        #: each trade's volatility regime at entry, by trade id (recorded at its fill)
        self.trade_regimes: dict[int, str] = {}
        #: restraints the advisor or the operator set (``follow``)
        self.directives = Directives()

    # -- memory -----------------------------------------------------------------------

    def _load(self) -> GuardState:
        try:
            data = self.memory.load()
        except Exception as error:
            self._memory_failed(error)
            return GuardState()
        return GuardState.from_dict(data)

    def _save(self) -> None:
        """Write what the guard must not forget when it changed; the readings alone (what
        ``bulkhead guard`` shows) after an entry denial, else at most every
        ``READINGS_EVERY_S``. A quiet loop whose equity made no new peak costs no write."""
        essential = asdict(self.state)
        now = self.wall_clock()
        fresh = not self._denials_unsaved and now - self._saved_at < READINGS_EVERY_S
        if essential == self._saved and fresh:
            return
        try:
            self.memory.save(essential | {"readings": self._shown_readings()})
        except Exception as error:
            self._memory_failed(error)
            return
        self._saved, self._saved_at = essential, now
        self._denials_unsaved = False
        self.memory_down_since = None

    def _memory_failed(self, error: Exception) -> None:
        now = self.wall_clock()
        if self.memory_down_since is None:
            self.memory_down_since = now
            self.emit("guard_memory_failed", {"error": str(error)[:200]})

    def _shown_readings(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"decision": v.decision.value, "code": v.code, "numbers": v.numbers}
            for name, v in self.readings.items()
        }

    # -- account rules: the trading state ----------------------------------------------

    def on_loop(
        self,
        now: datetime,
        equity: float,
        closed_profits: Sequence[float] = (),
        last_close: datetime | None = None,
    ) -> str:
        """Run the account rules on the bot's equity (cash + open positions at the last
        price); returns the state that holds afterwards."""
        s, g = self.state, self.rules
        self._sync_with_sink(equity)
        if not math.isfinite(equity):
            self._critical(r.EXCHANGE_ERRORS, {"equity": str(equity)})
            return self._finish()
        s.peak = max(s.peak, equity)
        day, week = r.day_start(now).date().isoformat(), r.week_start(now).date().isoformat()
        if s.day != day:
            s.day, s.day_start_equity = day, equity
        if s.week != week:
            s.week, s.week_start_equity = week, equity
        dd = r.drawdown(s.peak, equity, g.max_drawdown)
        daily = r.period_loss(
            "daily_loss", r.DAILY_LOSS_LIMIT, s.day_start_equity, equity, self.budget, g.daily_loss
        )
        weekly = r.period_loss(
            "weekly_loss",
            r.WEEKLY_LOSS_LIMIT,
            s.week_start_equity,
            equity,
            self.budget,
            g.weekly_loss,
        )
        streak = r.loss_streak(
            closed_profits,
            last_close,
            now,
            g.loss_streak,
            timedelta(minutes=g.loss_streak_pause_minutes),
        )
        self.readings.update({v.rule: v for v in (dd, daily, weekly, streak)})
        if dd.denies and not s.drawdown_tripped:
            s.drawdown_tripped = True
        elif s.drawdown_tripped and g.drawdown_recovery is not None:
            recovered = float(dd.numbers.get("drawdown", 1.0)) < g.drawdown_recovery
            if recovered:
                s.drawdown_tripped = False
                self.emit(
                    "guard_decision",
                    {
                        "rule": "drawdown",
                        "decision": "allow",
                        "reason": f"{r.DRAWDOWN_RECOVERED} {dd.reason}".strip(),
                    },
                )
        self._check_memory()
        if s.state != HALTED:
            causes = [v for v in (dd, daily, weekly) if v.denies]
            if s.drawdown_tripped and not dd.denies:
                causes.insert(
                    0,
                    Verdict(
                        "drawdown",
                        Decision.DENY,
                        r.DRAWDOWN_LIMIT,
                        {"tripped": "until resume or recovery"},
                    ),
                )
            wanted = REDUCING if causes else ACTIVE
            reason = causes[0].reason if causes else f"{r.RULES_CLEAR} every rule within its limit"
            self._move(wanted, reason, causes)
        return self._finish()

    def _finish(self) -> str:
        self._save()
        return self.state.state

    def _check_memory(self) -> None:
        since = self.memory_down_since
        if since is not None and self.wall_clock() - since > self.rules.memory_down_s:
            down = self.wall_clock() - since
            self._critical(
                r.MEMORY_UNREACHABLE, {"down_s": down, "limit_s": float(self.rules.memory_down_s)}
            )

    def record_error(self, kind: str, detail: str = "", at: float | None = None) -> None:
        """An exchange error (``exchange``) or a strategy exception (``strategy``), at wall
        time ``at`` (now by default): past ``max_errors`` within ten minutes the bot is
        HALTED."""
        now = self.wall_clock()
        horizon = now - ERROR_WINDOW.total_seconds()
        times = self.state.strategy_errors if kind == "strategy" else self.state.exchange_errors
        times[:] = [t for t in times if t > horizon] + [now if at is None else at]
        if len(times) > self.rules.max_errors:
            code = r.STRATEGY_ERRORS if kind == "strategy" else r.EXCHANGE_ERRORS
            numbers: dict[str, float | str] = {
                "errors": float(len(times)),
                "limit": float(self.rules.max_errors),
                "window_min": ERROR_WINDOW.total_seconds() / 60,
            }
            if detail:
                numbers["last"] = detail[:80]
            self._critical(code, numbers)
        self._save()

    def exchange_closed(self, status: str) -> None:
        """KuCoin says ``cancelonly`` or ``close``: nothing new may be placed."""
        self._critical(r.EXCHANGE_CLOSED, {"status": status})
        self._save()

    def _critical(self, code: str, numbers: dict[str, float | str]) -> None:
        verdict = Verdict("critical", Decision.DENY, code, numbers)
        self.readings["critical"] = verdict
        self.emit("guard_alert", {"rule": "critical", "reason": verdict.reason})
        self._move(HALTED, verdict.reason, [verdict])

    def _move(self, wanted: str, reason: str, causes: Sequence[Verdict]) -> None:
        s = self.state
        if wanted == s.state:
            return
        if s.state == HALTED:
            return  # only the operator lifts a HALTED (``bulkhead resume``)
        held = self._send(wanted, reason)
        previous, s.state, s.reason = s.state, held, reason
        rule = causes[0].rule if causes else "guard"
        self.emit(
            "guard_decision",
            {"rule": rule, "decision": "state", "from": previous, "state": held, "reason": reason},
        )

    def _send(self, wanted: str, reason: str) -> str:
        """Ask the gateway for ``wanted``; the state that holds (``wanted`` itself, enforced
        locally, when the gateway cannot be asked)."""
        if self.sink is None:
            return wanted
        try:
            held, _by = self.sink.request(wanted, reason)
        except Exception as error:  # enforce locally, say so
            self.emit("guard_state_unsent", {"state": wanted, "error": str(error)[:200]})
            return wanted
        return held if held in ORDER else wanted

    def _sync_with_sink(self, equity: float) -> None:
        """Read the gateway's view every loop. Count the upstream errors it saw. Take a
        state someone else tightened (``bulkhead kill``, the gateway's own halts). After
        ``bulkhead resume``, start the rules afresh from this equity. A gateway laxer than
        the guard without anyone resuming (a request lost on the way) is asked again."""
        if self.sink is None:
            return
        try:
            reading = self.sink.current()
        except Exception:  # unreachable: keep the local view (fail closed)
            return
        s, before = self.state, self.state.state
        self._count_upstream_errors(reading)
        held, by = reading.state, reading.by
        if s.state != before or held in (s.state, UNKNOWN) or held not in ORDER:
            return
        if held == ACTIVE and by not in ("", "guard"):  # the operator resumed
            s.peak = equity if math.isfinite(equity) else s.peak
            s.day_start_equity = s.week_start_equity = s.peak
            s.drawdown_tripped = False
            s.exchange_errors.clear()
            s.strategy_errors.clear()
            s.state, s.reason = ACTIVE, f"resumed by {by}"
            self.emit("guard_resumed", {"by": by, "equity": equity})
        elif ORDER.index(held) > ORDER.index(s.state):  # tightened by someone else
            s.state, s.reason = held, f"set by {by or 'the gateway'}"
        elif s.state == HALTED:  # our halt never arrived: again, the guard never lifts it
            self._send(HALTED, s.reason)
        else:  # our REDUCING never arrived, or we lifted it: the rules decide again below
            s.state = held

    def _count_upstream_errors(self, reading: SinkReading) -> None:
        s = self.state
        fresh = [(ms, code) for ms, code in reading.errors if ms > s.errors_seen_ms]
        for ms, code in fresh:
            s.errors_seen_ms = max(s.errors_seen_ms, ms)
            self.record_error("exchange", code, at=ms / 1000)
        if reading.exchange_status in ("close", "cancelonly") and s.state != HALTED:
            self.exchange_closed(reading.exchange_status)

    # -- insights: decisions from the bot's own history ------------------------------------

    def learning_due(self, now: datetime) -> bool:
        rules = self.rules.insights
        return rules.enabled and (self._next_learning is None or now >= self._next_learning)

    def learn(self, now: datetime, trades: Sequence[ClosedTrade]) -> list[Insight]:
        """Turn the closed trades (oldest close first) into insights; the new ones are
        announced (``guard_insight``) and taken into account from now on."""
        rules = self.rules.insights
        self._next_learning = now + timedelta(minutes=rules.every_minutes)
        found = derive(trades, rules, now)
        fresh = []
        self.paused = {p: i for p, i in self.paused.items() if i.until is None or now < i.until}
        scale = None
        for insight in found:
            if insight.kind == "pause_pair" and insight.pair not in self.paused:
                self.paused[insight.pair] = insight
                fresh.append(insight)
            elif insight.kind == "scale_stakes":
                scale = insight
            elif insight.kind == "regime_effect" and insight.id not in self._noted:
                self._noted.add(insight.id)
                fresh.append(insight)
        known = self.stake_insight
        if scale is not None and (known is None or scale.id != known.id):
            fresh.append(scale)
        elif scale is None and known is not None:
            self.emit("guard_insight_ended", {"insight": known.id, "kind": known.kind})
        self.stake_insight = scale
        for insight in fresh:
            self.emit(
                "guard_insight",
                {
                    "insight": insight.id,
                    "kind": insight.kind,
                    "pair": insight.pair,
                    "text": insight.text,
                    "until": insight.until.isoformat() if insight.until else "",
                    "evidence": insight.evidence,
                },
            )
        return fresh

    def follow(self, directives: Directives) -> None:
        """Take the advisor's or operator's restraints into account from now on."""
        if directives != self.directives:
            self.emit("guard_directives", {"directives": directives.as_json().decode()})
        self.directives = directives

    def _insight_verdict(self, pair: str, now: datetime) -> Verdict | None:
        insight = self.paused.get(pair)
        if insight is None:
            return None
        if insight.until is not None and now >= insight.until:
            del self.paused[pair]
            return None
        until = insight.until.strftime("%Y-%m-%dT%H:%MZ") if insight.until else "-"
        numbers: dict[str, float | str] = {"insight": insight.id, "until": until}
        return Verdict("insight", Decision.DENY, r.INSIGHT_PAUSE, numbers)

    # -- entry rules --------------------------------------------------------------------

    def check_entry(
        self,
        pair: str,
        now: datetime,
        candle_times: Sequence[datetime],
        volumes: Sequence[float],
        closes: Sequence[float],
    ) -> EntryVerdict:
        """Whether an entry on ``pair`` may go out now; each verdict an event."""
        verdicts: list[Verdict] = []
        if self.state.state != ACTIVE:
            verdicts.append(
                Verdict("state", Decision.DENY, r.STATE_NOT_ACTIVE, {"state": self.state.state})
            )
        streak = self.readings.get("loss_streak")
        if streak is not None and streak.denies:
            verdicts.append(streak)
        paused = self._insight_verdict(pair, now)
        if paused is not None:
            verdicts.append(paused)
        directed = pause_verdict(self.directives, pair, int(now.timestamp() * 1000))
        if directed is not None:
            verdicts.append(directed)
        data = r.market_data(
            candle_times, volumes, now, self.timeframe, self.rules.stale_after_timeframes
        )
        verdicts.append(data)
        reading = r.volatility_regime(closes, self.rules.volatility)
        self.regimes[pair] = reading
        verdicts.append(r.regime_verdict(reading, self.rules.volatility))
        allowed = not any(v.denies for v in verdicts)
        result = EntryVerdict(allowed, tuple(verdicts), reading.regime)
        self.emit(
            "guard_decision",
            {
                "rule": "entry",
                "pair": pair,
                "decision": "allow" if allowed else "deny",
                "reason": result.reason or "within limits",
                "regime": reading.regime.value,
            },
        )
        for verdict in verdicts:
            if verdict.denies:
                self.readings[verdict.rule] = verdict
                self._denials_unsaved = True
        return result

    def size(self, pair: str, proposed: float, pair_open_stake: float) -> float:
        """The stake for an entry on ``pair``: scaled in a high regime, capped per trade and
        per pair. 0 means no entry."""
        reading = self.regimes.get(pair)
        scale = 1.0
        if reading is not None and reading.regime is Regime.HIGH:
            scale = self.rules.volatility.high_stake_scale
        cited = []
        if scale < 1.0:
            cited.append(f"{r.VOLATILITY_HIGH} scale={scale:g}")
        if self.stake_insight is not None:
            scale *= self.stake_insight.scale
            insight = self.stake_insight
            cited.append(f"{r.INSIGHT_SCALE} insight={insight.id} scale={insight.scale:g}")
        directed, citation = stake_scale(self.directives, int(self.wall_clock() * 1000))
        if directed < 1.0:
            scale *= directed
            cited.append(citation)
        sizing = r.size_entry(
            proposed,
            self.budget,
            pair_open_stake,
            self.rules.max_trade_share,
            self.rules.max_pair_share,
            scale,
        )
        if sizing.stake != proposed:
            reasons = "; ".join(cited + [v.reason for v in sizing.verdicts])
            self.emit(
                "guard_decision",
                {
                    "rule": "size",
                    "pair": pair,
                    "decision": "deny" if sizing.stake <= 0 else "scale",
                    "reason": reasons,
                    "proposed": proposed,
                    "stake": sizing.stake,
                },
            )
        return sizing.stake

    @property
    def closes_needed(self) -> int:
        """How many of a pair's last closes the volatility rule reads."""
        return self.rules.volatility.history + self.rules.volatility.window + 1

    def regime_of(self, pair: str) -> str:
        reading = self.regimes.get(pair)
        return reading.regime.value if reading is not None else Regime.UNKNOWN.value
