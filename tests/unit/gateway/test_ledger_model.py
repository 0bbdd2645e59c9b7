"""The budget ledger's arithmetic, without Redis: worst cases, units, caps, sells, replays."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bulkhead.gateway.ledger import ExchangeState, TradeFill
from bulkhead.gateway.ledger_model import (
    Fill,
    cap_units,
    from_units,
    limit_cost,
    market_funds_cost,
    market_size_cost,
    order_worst_case,
    qty_units,
    replay,
    sell_effect,
    to_units,
)
from bulkhead.memory.keys import GatewayKeys


def test_a_limit_buy_costs_size_times_price_plus_fee_at_worst() -> None:
    assert limit_cost(D("10"), D("0.5"), D("0.001")) == D("5.005")


def test_a_market_buy_by_funds_costs_its_funds_and_by_size_the_ask_plus_slippage() -> None:
    assert market_funds_cost(D("12.5")) == D("12.5")
    assert market_funds_cost(D("30"), D("0.001")) == D("30.03")  # the fee on top
    assert market_size_cost(D("10"), D("0.5"), D("0.02")) == D("5.1")
    assert market_size_cost(D("10"), D("0.5"), D("0.02"), D("0.001")) == D("5.1051")


def test_costs_round_up_and_proceeds_down_to_the_unit() -> None:
    assert to_units(D("0.000000001")) == 1
    assert to_units(D("0.000000019"), up=False) == 1
    assert to_units(D("100")) == 10_000_000_000
    assert from_units(123_456_789) == D("1.23456789")


def test_a_quantity_finer_than_the_unit_is_refused() -> None:
    assert qty_units(D("1.5")) == 150_000_000
    with pytest.raises(ValueError, match="finer"):
        qty_units(D("0.000000001"))


def test_the_cap_drops_with_losses_and_rises_with_profits_only_when_compounding() -> None:
    assert cap_units(100, -30, compound=False) == 70
    assert cap_units(100, 30, compound=False) == 100
    assert cap_units(100, 30, compound=True) == 130
    assert cap_units(100, -30, compound=True) == 70


def test_a_sell_releases_cost_in_proportion_and_realizes_the_rest() -> None:
    half = sell_effect(held_qty=10, held_cost=100, sold_qty=5, proceeds=40)
    assert (half.qty, half.released, half.pnl) == (5, 50, -10)
    whole = sell_effect(held_qty=3, held_cost=100, sold_qty=3, proceeds=120)
    assert (whole.qty, whole.released, whole.pnl) == (3, 100, 20)


def test_a_sell_of_more_than_is_held_counts_only_the_held_part() -> None:
    effect = sell_effect(held_qty=4, held_cost=40, sold_qty=8, proceeds=100)
    assert (effect.qty, effect.released, effect.pnl) == (4, 40, 10)
    assert sell_effect(0, 0, 5, 50) == sell_effect(0, 0, 0, 0)


def test_a_replay_of_fills_gives_positions_and_realized_pnl() -> None:
    state = replay(
        [
            Fill("XRP-USDT", "buy", 10, 100),
            Fill("XRP-USDT", "buy", 10, 120),
            Fill("XRP-USDT", "sell", 5, 40),
            Fill("BTC-USDT", "buy", 1, 50),
        ]
    )
    assert state.positions["XRP-USDT"].qty == 15
    assert state.positions["XRP-USDT"].cost == 165
    assert state.realized == 40 - 55
    assert state.committed == 165 + 50


def test_a_replay_caps_positions_at_the_balance_held() -> None:
    state = replay(
        [Fill("XRP-USDT", "buy", 10, 100), Fill("BTC-USDT", "buy", 2, 60)], {"XRP-USDT": 4}
    )
    assert (state.positions["XRP-USDT"].qty, state.positions["XRP-USDT"].cost) == (4, 40)
    assert "BTC-USDT" not in state.positions


def test_the_exchange_state_becomes_reservations_positions_and_realized_pnl() -> None:
    exchange = ExchangeState(
        open_buys={"a": D("5.005"), "gone": D("0")},
        fills=[
            TradeFill("XRP-USDT", "buy", D("10"), D("5"), D("0.005")),
            TradeFill("XRP-USDT", "sell", D("5"), D("2"), D("0.002")),
        ],
    )
    state = exchange.ledger_state()
    assert state.reservations == {"a": 500_500_000}
    assert state.positions["XRP-USDT"].qty == 500_000_000
    assert state.positions["XRP-USDT"].cost == 250_250_000
    assert state.realized == 199_800_000 - 250_250_000


def test_the_ledger_keys_are_the_bots_own() -> None:
    keys = GatewayKeys("alpha")
    assert keys.ledger == "bhgw:{alpha}:ledger"
    assert keys.ledger_orders == "bhgw:{alpha}:ledger:orders"
    assert keys.ledger_positions == "bhgw:{alpha}:ledger:positions"
    assert keys.ledger_lost == "bhgw:{alpha}:ledger:lost"
    assert keys.ledger_fills == "bhgw:{alpha}:ledger:fills"


def test_an_order_body_gives_its_worst_case_cost_by_kind() -> None:
    costs = {"fee_rate": D("0.001"), "slippage": D("0.02"), "best_ask": D("0.5")}
    limit = {"side": "buy", "type": "limit", "size": "10", "price": "0.5"}
    assert order_worst_case(limit, **costs) == D("5.005")
    by_funds = {"side": "buy", "type": "market", "funds": "12.5"}
    assert order_worst_case(by_funds, **costs) == D("12.5125")  # the fee on top
    by_size = {"side": "buy", "type": "market", "size": "10"}
    assert order_worst_case(by_size, **costs) == D("5.1051")
    assert order_worst_case({"side": "sell", "type": "market", "size": "10"}, **costs) == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"side": "buy", "type": "limit", "size": "ten", "price": "0.5"}, "not a number"),
        ({"side": "buy", "type": "limit", "size": "-1", "price": "0.5"}, "positive"),
        ({"side": "buy", "type": "limit", "size": "NaN", "price": "0.5"}, "positive"),
        ({"side": "buy", "type": "limit", "size": "1"}, "not a number"),
        ({"side": "buy", "type": "stop", "size": "1"}, "neither limit"),
        ({"side": "hold", "size": "1"}, "neither buy"),
    ],
)
def test_an_order_body_that_does_not_parse_is_refused(body: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        order_worst_case(body, fee_rate=D("0.001"), slippage=D("0.02"), best_ask=D("1"))


def test_a_market_buy_by_size_without_a_best_ask_is_refused() -> None:
    with pytest.raises(ValueError, match="best ask"):
        order_worst_case(
            {"side": "buy", "type": "market", "size": "1"}, fee_rate=D(0), slippage=D(0)
        )
