"""The advisor's and operator's directives as the guard takes them: they only restrain,
whatever the key holds."""

from __future__ import annotations

from datetime import timedelta

from test_engine import FIVE, NOW, candle_times, closes, guard

from bulkhead.guard.directives import Directives, Pause

NOW_MS = int(NOW.timestamp() * 1000)


def test_a_paused_pair_takes_no_entry_until_its_pause_ends() -> None:
    g, _ = guard()
    g.on_loop(NOW, 100.0)
    g.follow(Directives({"XRP/USDT": Pause("p1", NOW_MS + 3_600_000, "losing")}))
    times, volumes = candle_times(NOW - FIVE), [5.0] * 400
    denied = g.check_entry("XRP/USDT", NOW, times, volumes, closes())
    assert not denied.allowed
    assert "ADVISOR_PAUSE id=p1" in denied.reason
    assert g.check_entry("BTC/USDT", NOW, times, volumes, closes()).allowed
    later = NOW + timedelta(hours=1, minutes=5)
    assert g.check_entry("XRP/USDT", later, candle_times(later - FIVE), volumes, closes()).allowed


def test_a_stake_scale_shrinks_stakes_and_never_grows_them() -> None:
    g, events = guard(max_trade_share=1.0, max_pair_share=1.0)
    g.wall_clock = lambda: NOW.timestamp()
    g.follow(Directives(stake_scale=0.5, scale_id="s1", scale_until_ms=NOW_MS + 60_000))
    assert g.size("XRP/USDT", 20.0, 0.0) == 10.0
    assert any("ADVISOR_SCALE id=s1 scale=0.5" in r for r in events.reasons())
    g.follow(Directives.from_json(b'{"stake_scale": 4.0, "scale_until_ms": 99999999999999}'))
    assert g.size("XRP/USDT", 20.0, 0.0) == 20.0


def test_garbage_in_the_key_means_no_directive() -> None:
    for raw in (b"", b"not json", b"[1,2]", b'{"pauses": "all"}', b"x" * 70_000, None):
        assert Directives.from_json(raw) == Directives()
    weird = Directives.from_json(b'{"stake_scale": -1, "pauses": {"XRP/USDT": {"until_ms": "x"}}}')
    assert weird == Directives()
