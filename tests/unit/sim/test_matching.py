"""Order placement and matching, driven directly on a twin whose clock the test owns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bulkhead.sim import matching
from bulkhead.sim.engine import Twin
from bulkhead.sim.errors import KucoinError
from bulkhead.sim.models import ExchangeState, Order, User
from bulkhead.sim.scenario import ScenarioSymbol, symbol_spec

DATA = Path(__file__).resolve().parents[3] / "data" / "ohlcv"
START_MS = 1_800_000_000_000
HOUR_MS = 3_600_000


class FakeClock:
    def __init__(self) -> None:
        self.now = START_MS

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def twin(clock: FakeClock) -> Twin:
    twin = Twin(ExchangeState(anchor_ms=START_MS), base_dir=DATA, wall_clock=clock)
    entry = ScenarioSymbol.model_validate(
        {"symbol": "XRP-USDT", "source": {"kind": "replay", "path": "XRP_USDT-5m.feather"}}
    )
    twin.add_symbol(symbol_spec(twin, entry))
    twin.create_user("master", master=True)
    bot = twin.create_user("bot1")
    twin.set_balance(bot, "USDT", Decimal(100), "trade")
    return twin


@pytest.fixture
def bot(twin: Twin) -> User:
    return twin.user_by_name("bot1")


def usdt(user: User) -> tuple[Decimal, Decimal]:
    balance = user.balance(user.trade_account, "USDT")
    return balance.balance, balance.holds


def place_stop_loss_the_market_will_reach(
    twin: Twin, bot: User, clock: FakeClock
) -> tuple[Order, Decimal]:
    """A market stop-loss selling 50 XRP just above the low of the next six hours."""
    low, _ = twin.source("XRP-USDT").extremes(clock.now, clock.now + 6 * HOUR_MS)
    stop = (Decimal(repr(low)) * Decimal("1.001")).quantize(Decimal("0.00001"))
    body = {
        "symbol": "XRP-USDT",
        "side": "sell",
        "type": "market",
        "size": "50",
        "stop": "loss",
        "stopPrice": str(stop),
    }
    return matching.place_order(twin, bot, body, hf=False), stop


def test_market_buy_pays_ask_plus_taker_fee_and_credits_the_base(twin: Twin, bot: User):
    _, ask, _ = twin.quote("XRP-USDT")
    order = matching.place_order(
        twin, bot, {"symbol": "XRP-USDT", "side": "buy", "type": "market", "size": "10"}, hf=False
    )
    assert not order.is_active
    assert not order.cancel_exist
    assert order.deal_size == 10
    assert order.deal_funds == ask * 10
    assert usdt(bot) == (100 - ask * 10 * Decimal("1.001"), 0)
    assert bot.balance("trade", "XRP").balance == 10
    assert twin.state.fills[-1].liquidity == "taker"


def test_market_buy_by_funds_spends_at_most_the_funds_plus_fee(twin: Twin, bot: User):
    order = matching.place_order(
        twin, bot, {"symbol": "XRP-USDT", "side": "buy", "type": "market", "funds": "20"}, hf=False
    )
    assert 0 < order.deal_funds <= 20
    assert usdt(bot)[0] == 100 - order.deal_funds - order.fee


def test_resting_limit_buy_holds_funds_then_fills_as_maker_when_the_path_crosses(
    twin: Twin, bot: User, clock: FakeClock
):
    spec = twin.symbol("XRP-USDT")
    bid = twin.quote("XRP-USDT")[0]
    low, _ = twin.source("XRP-USDT").extremes(clock.now, clock.now + 24 * HOUR_MS)
    # A price below the bid that the market reaches within a day.
    price = ((Decimal(repr(low)) + bid) / 2 / spec.price_increment).to_integral_value() * (
        spec.price_increment
    )
    assert Decimal(repr(low)) * (1 + spec.spread / 2) <= price < bid
    order = matching.place_order(
        twin,
        bot,
        {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": str(price), "size": "10"},
        hf=False,
    )
    assert order.is_active
    assert usdt(bot) == (Decimal(100), price * 10 * Decimal("1.001"))
    clock.now += 24 * HOUR_MS
    matching.advance(twin)
    assert not order.is_active
    assert order.deal_size == 10
    assert twin.state.fills[-1].liquidity == "maker"
    assert twin.state.fills[-1].price == price
    assert usdt(bot) == (100 - price * 10 * Decimal("1.001"), 0)


def test_stop_loss_sell_triggers_when_the_price_falls_through_it(
    twin: Twin, bot: User, clock: FakeClock
):
    bot.balance("trade", "XRP").balance = Decimal(50)
    order, stop = place_stop_loss_the_market_will_reach(twin, bot, clock)
    assert order.is_active
    assert not order.stop_triggered
    assert bot.balance("trade", "XRP").holds == 0  # KuCoin freezes nothing before a trigger
    clock.now += 6 * HOUR_MS
    matching.advance(twin)
    assert order.stop_triggered
    assert not order.is_active
    assert order.deal_size == 50
    assert twin.state.fills[-1].price <= stop
    assert bot.balance("trade", "XRP").balance == 0


def test_order_beyond_the_balance_is_refused_and_changes_nothing(twin: Twin, bot: User):
    before = twin.state.model_dump_json()
    with pytest.raises(KucoinError) as refused:
        matching.place_order(
            twin,
            bot,
            {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "1", "size": "1000"},
            hf=False,
        )
    assert refused.value.code == "200004"
    assert twin.state.model_dump_json() == before


@pytest.mark.parametrize(
    "order",
    [
        {"side": "buy", "size": "1000"},
        {"side": "buy", "funds": "1000"},
        {"side": "sell", "size": "10"},
    ],
)
def test_a_market_order_beyond_the_balance_is_refused_and_changes_nothing(
    twin: Twin, bot: User, order: dict[str, str]
) -> None:
    before = twin.state.model_dump_json()
    with pytest.raises(KucoinError) as refused:
        matching.place_order(twin, bot, {"symbol": "XRP-USDT", "type": "market", **order}, hf=False)
    assert refused.value.code == "200004"
    assert twin.state.model_dump_json() == before


def test_market_orders_leave_what_a_resting_order_holds_exactly_as_it_was(
    twin: Twin, bot: User
) -> None:
    resting = matching.place_order(
        twin,
        bot,
        {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"},
        hf=False,
    )
    held = usdt(bot)[1]
    for side in ("buy", "sell"):
        market = {"symbol": "XRP-USDT", "side": side, "type": "market", "size": "10"}
        assert matching.place_order(twin, bot, market, hf=False).deal_size == 10
    assert resting.is_active
    assert usdt(bot)[1] == held


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", "10.00001", "Order size increment invalid."),
        ("size", "0.01", "Order size below the minimum requirement."),
        ("price", "0.123456789", "Price increment invalid."),
    ],
)
def test_sizes_and_prices_off_the_grid_are_refused_with_kucoins_message(
    twin: Twin, bot: User, field: str, value: str, message: str
):
    body = {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"}
    body[field] = value
    with pytest.raises(KucoinError) as refused:
        matching.place_order(twin, bot, body, hf=False)
    assert refused.value.msg == message
    assert not twin.state.orders


def test_post_only_order_that_would_take_is_cancelled_without_a_fill(twin: Twin, bot: User):
    _, ask, _ = twin.quote("XRP-USDT")
    order = matching.place_order(
        twin,
        bot,
        {
            "symbol": "XRP-USDT",
            "side": "buy",
            "type": "limit",
            "price": str(ask),
            "size": "10",
            "postOnly": True,
        },
        hf=False,
    )
    assert order.cancel_exist
    assert order.deal_size == 0
    assert not twin.state.fills
    assert usdt(bot) == (Decimal(100), Decimal(0))


@pytest.mark.parametrize("tif", ["IOC", "FOK"])
def test_immediate_orders_that_cannot_fill_now_are_cancelled(twin: Twin, bot: User, tif: str):
    order = matching.place_order(
        twin,
        bot,
        {
            "symbol": "XRP-USDT",
            "side": "buy",
            "type": "limit",
            "price": "0.5",
            "size": "10",
            "timeInForce": tif,
        },
        hf=False,
    )
    assert order.cancel_exist
    assert not order.is_active
    assert usdt(bot) == (Decimal(100), Decimal(0))


def test_a_repeated_client_oid_is_refused_and_creates_no_second_order(twin: Twin, bot: User):
    body = {
        "symbol": "XRP-USDT",
        "side": "buy",
        "type": "limit",
        "price": "0.5",
        "size": "10",
        "clientOid": "same",
    }
    matching.place_order(twin, bot, body, hf=False)
    with pytest.raises(KucoinError) as refused:
        matching.place_order(twin, bot, body, hf=False)
    assert refused.value.code == "126044"
    assert len(twin.state.orders) == 1


def test_cancel_only_mode_refuses_new_orders_but_cancels_open_ones(twin: Twin, bot: User):
    order = matching.place_order(
        twin,
        bot,
        {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"},
        hf=False,
    )
    twin.state.status = "cancelonly"
    with pytest.raises(KucoinError) as refused:
        matching.place_order(
            twin,
            bot,
            {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"},
            hf=False,
        )
    assert refused.value.code == "400200"
    matching.cancel_order(twin, bot, order)
    assert order.cancel_exist
    assert usdt(bot) == (Decimal(100), Decimal(0))


def test_snapshot_round_trip_keeps_balances_holds_and_open_orders(
    twin: Twin, bot: User, tmp_path: Path, clock: FakeClock
):
    order = matching.place_order(
        twin,
        bot,
        {"symbol": "XRP-USDT", "side": "buy", "type": "limit", "price": "0.5", "size": "10"},
        hf=False,
    )
    twin.save(tmp_path / "state.json")
    reloaded = Twin.load(tmp_path / "state.json", base_dir=DATA, wall_clock=clock)
    again = reloaded.user_by_name("bot1")
    assert usdt(again) == usdt(bot)
    assert reloaded.state.orders[order.id].is_active
    assert reloaded.active_order_ids() == [order.id]
    assert reloaded.quote("XRP-USDT") == twin.quote("XRP-USDT")


def test_ids_minted_after_a_reload_never_repeat_earlier_ones(
    twin: Twin, bot: User, tmp_path: Path, clock: FakeClock
) -> None:
    buy = {"symbol": "XRP-USDT", "side": "buy", "type": "market", "size": "10"}

    def minted(on: Twin) -> set[str]:
        ids = set(on.state.orders)
        for fill in on.state.fills:
            ids |= {fill.trade_id, fill.counter_order_id}
        return ids

    matching.place_order(twin, bot, buy, hf=False)
    before = minted(twin)
    twin.save(tmp_path / "state.json")
    reloaded = Twin.load(tmp_path / "state.json", base_dir=DATA, wall_clock=clock)
    assert reloaded.sequence == twin.sequence == len(before)
    # Same market second: only the restored count keeps the new ids apart.
    matching.place_order(reloaded, reloaded.user_by_name("bot1"), buy, hf=False)
    after = minted(reloaded) - before
    assert len(after) == 3
    assert reloaded.synced_state().sequence == reloaded.sequence == 6


def test_a_triggered_stop_whose_funds_are_gone_is_cancelled_without_a_fill(
    twin: Twin, bot: User, clock: FakeClock
):
    bot.balance("trade", "XRP").balance = Decimal(50)
    order, _ = place_stop_loss_the_market_will_reach(twin, bot, clock)
    # The position is sold another way before the stop triggers.
    matching.place_order(
        twin, bot, {"symbol": "XRP-USDT", "side": "sell", "type": "market", "size": "50"}, hf=False
    )
    fills_before = len(twin.state.fills)
    clock.now += 6 * HOUR_MS
    matching.advance(twin)
    assert order.stop_triggered
    assert order.cancel_exist
    assert order.deal_size == 0
    assert len(twin.state.fills) == fills_before


def test_a_quote_follows_the_market_clock_and_a_replaced_source_at_once(
    twin: Twin, clock: FakeClock
) -> None:
    # Quotes are kept per symbol and millisecond: a new millisecond, an advanced market
    # clock or a new price source must never be answered from the kept one.
    def fresh(at_ms: int) -> tuple[Decimal, Decimal, Decimal]:
        mid = Decimal(repr(twin.source("XRP-USDT").price_at(at_ms)))
        return twin.quote_around(twin.symbol("XRP-USDT"), mid)

    assert twin.quote("XRP-USDT") == twin.quote("XRP-USDT") == fresh(clock.now)
    clock.now += 2 * HOUR_MS
    assert twin.quote("XRP-USDT") == fresh(clock.now)
    twin.advance_clock(6 * 3600)
    assert twin.quote("XRP-USDT") == fresh(clock.now + 6 * HOUR_MS)
    before = twin.quote("XRP-USDT")
    spec = twin.symbol("XRP-USDT")
    doubled = spec.source.model_copy(update={"scale": 2.0})
    twin.add_symbol(spec.model_copy(update={"source": doubled}))
    after = twin.quote("XRP-USDT")
    assert after[2] == pytest.approx(2 * before[2], rel=Decimal("0.001"))
