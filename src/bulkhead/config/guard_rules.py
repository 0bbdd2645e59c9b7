"""The risk guard's rules in bulkhead.yaml (``risk.guard``): typed, strict, frozen, each
with a safe default. Kept apart from ``models`` so neither file outgrows a reading."""

from __future__ import annotations

from pydantic import Field, model_validator

from bulkhead.config.strict import Strict as _Strict


class VolatilityRules(_Strict):
    """Volatility regimes: each pair's realized volatility (standard deviation of log
    returns over ``window`` candles) ranked against its own last ``history`` values.
    Below ``calm`` percentile: calm; from ``high``: high (stakes x ``high_stake_scale``);
    from ``extreme``: extreme (no entries)."""

    window: int = Field(default=24, ge=5, le=1000, description="candles per volatility value")
    history: int = Field(default=288, ge=20, le=20_000, description="candles ranked against")
    calm: float = Field(default=0.2, ge=0, le=1, description="percentile below which: calm")
    high: float = Field(default=0.8, ge=0, le=1, description="percentile from which: high")
    extreme: float = Field(default=0.95, ge=0, le=1, description="from which: no entries")
    high_stake_scale: float = Field(
        default=0.5, gt=0, le=1, description="stake multiplier in the high regime"
    )

    @model_validator(mode="after")
    def _ordered(self) -> VolatilityRules:
        if not self.calm <= self.high <= self.extreme:
            raise ValueError(
                f"calm ({self.calm}) <= high ({self.high}) <= extreme ({self.extreme}) must hold"
            )
        if self.history <= self.window:
            raise ValueError(f"history ({self.history}) must exceed window ({self.window})")
        return self


class InsightRules(_Strict):
    """Decisions the guard takes from the bot's own history (``analytics.insights``),
    derived at start and every ``every_minutes``: a pair whose trades reliably lose (the
    95 % interval of its mean return below 0, over ``min_trades`` or more) is paused for
    ``pause_hours``; when the last ``recent_trades`` reliably lose, stakes are scaled by
    ``losing_stake_scale`` until they no longer do."""

    enabled: bool = True
    every_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    min_trades: int = Field(default=20, ge=5, le=10_000)
    pause_hours: float = Field(default=24, gt=0, le=24 * 30)
    recent_trades: int = Field(default=20, ge=5, le=10_000)
    losing_stake_scale: float = Field(default=0.5, gt=0, le=1)


class GuardRules(_Strict):
    """The risk guard's rules, inside the bot's strategy stack (live and in backtests).

    Shares are of the budget; drawdown is from the peak of equity (cash plus open
    positions at the last close, fees included), not from closed trades alone."""

    enabled: bool = True
    max_drawdown: float = Field(
        default=0.15, gt=0, lt=1, description="drawdown from peak equity -> REDUCING"
    )
    drawdown_recovery: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="drawdown back under this -> ACTIVE again (unset: only `bulkhead resume`)",
    )
    daily_loss: float = Field(
        default=0.05, gt=0, le=1, description="loss since 00:00 UTC, share of budget -> REDUCING"
    )
    weekly_loss: float = Field(
        default=0.10, gt=0, le=1, description="loss since Monday 00:00 UTC -> REDUCING"
    )
    loss_streak: int = Field(default=4, ge=1, le=100, description="losing trades in a row")
    loss_streak_pause_minutes: int = Field(
        default=120, ge=1, le=7 * 24 * 60, description="no entries for this long after a streak"
    )
    max_trade_share: float = Field(
        default=1.0, gt=0, le=1, description="largest stake of one entry, share of budget"
    )
    max_pair_share: float = Field(
        default=1.0, gt=0, le=1, description="largest stake held in one pair, share of budget"
    )
    stale_after_timeframes: float = Field(
        default=2, ge=1, le=100, description="last candle older than this many -> no entries"
    )
    max_errors: int = Field(
        default=5, ge=1, le=1000, description="exchange errors within 10 minutes -> HALTED"
    )
    memory_down_s: int = Field(
        default=600, ge=10, le=86_400, description="memory unreachable this long -> HALTED"
    )
    volatility: VolatilityRules = VolatilityRules()
    insights: InsightRules = InsightRules()

    @model_validator(mode="after")
    def _recovery_below_limit(self) -> GuardRules:
        if self.drawdown_recovery is not None and self.drawdown_recovery >= self.max_drawdown:
            raise ValueError(
                f"drawdown_recovery ({self.drawdown_recovery}) must be below "
                f"max_drawdown ({self.max_drawdown})"
            )
        return self
