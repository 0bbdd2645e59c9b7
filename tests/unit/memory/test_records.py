"""Records as stored JSON: deterministic text, exact round trips, strict checks on import."""

from __future__ import annotations

import dataclasses
import gc

import orjson
import pytest

from bulkhead.memory.records import OrderRecord, TradeRecord, from_json_many

TRADE = TradeRecord(
    trade_id=7,
    pair="XRP/USDT",
    side="long",
    is_open=False,
    amount=46.4994,
    stake_amount=49.500006282,
    open_rate=1.06453,
    close_rate=0.1 + 0.2,  # 0.30000000000000004: every bit must survive
    open_time_ms=1_700_000_060_000,
    close_time_ms=1_700_000_070_000,
    fee_open_cost=1e-05,
    fee_close_cost=None,
    realized_pnl=-0.007487798381997056,
    realized_pnl_ratio=-1.5e-300,
    entry_tag="dip ü",
    exit_reason="",
    duration_s=10.0,
)
ORDER = OrderRecord(
    order_id="o-1",
    trade_id=7,
    pair="XRP/USDT",
    side="buy",
    order_type="market",
    amount=10.0,
    price=0.525,
    cost=5.25,
    fee_quote=0.00525,
    fee_base=0.0,
    filled_time_ms=1_700_000_060_000,
)


@pytest.mark.parametrize("record", [TRADE, ORDER])
def test_the_json_is_sorted_compact_and_what_orjson_makes_of_the_records_dict(record):
    expected = orjson.dumps(dataclasses.asdict(record), option=orjson.OPT_SORT_KEYS).decode()
    assert record.to_json() == expected
    assert " " not in record.to_json().replace("dip ü", "")
    assert list(orjson.loads(record.to_json())) == sorted(dataclasses.asdict(record))


@pytest.mark.parametrize("record", [TRADE, ORDER])
def test_a_record_comes_back_equal_and_with_the_same_types_from_str_or_bytes(record):
    for text in (record.to_json(), record.to_json().encode()):
        back = type(record).from_json(text)
        assert back == record
        assert dataclasses.asdict(back) == dataclasses.asdict(record)
        for field in dataclasses.fields(record):
            assert type(getattr(back, field.name)) is type(getattr(record, field.name))
        assert back.to_json() == record.to_json()
    with pytest.raises(dataclasses.FrozenInstanceError):
        type(record).from_json(record.to_json()).pair = "BTC/USDT"  # type: ignore[misc]


def test_stored_json_that_is_not_this_record_is_refused_with_what_is_wrong():
    data = dataclasses.asdict(ORDER)
    del data["cost"]
    with pytest.raises(ValueError, match=r"missing \['cost'\]"):
        OrderRecord.from_json(orjson.dumps(data))
    with pytest.raises(ValueError, match=r"unknown \['extra'\]"):
        OrderRecord.from_json(orjson.dumps(dataclasses.asdict(ORDER) | {"extra": 1}))
    with pytest.raises(ValueError, match="JSON object"):
        TradeRecord.from_json("[1, 2]")


def test_from_dict_takes_json_numbers_for_floats_and_refuses_anything_else_mistyped():
    data = dataclasses.asdict(TRADE) | {"amount": 46, "close_rate": None}
    record = TradeRecord.from_dict(data)
    assert record.amount == 46.0
    assert type(record.amount) is float
    assert record.close_rate is None
    refused = {
        "amount": "46.4994",  # nothing is parsed out of strings
        "trade_id": 7.0,
        "open_time_ms": True,
        "is_open": 0,
        "pair": None,  # not optional
        "fee_open_cost": False,
    }
    for name, value in refused.items():
        with pytest.raises(ValueError, match=name):
            TradeRecord.from_dict(dataclasses.asdict(TRADE) | {name: value})


def test_many_records_decode_in_order_and_the_garbage_collector_comes_back_on():
    later = dataclasses.replace(ORDER, order_id="o-2")
    assert from_json_many(OrderRecord, [ORDER.to_json(), later.to_json().encode()]) == [
        ORDER,
        later,
    ]
    assert gc.isenabled()
    with pytest.raises(ValueError, match="missing"):
        from_json_many(OrderRecord, [ORDER.to_json(), "{}"])
    assert gc.isenabled()
    gc.disable()
    try:
        assert from_json_many(TradeRecord, [TRADE.to_json()]) == [TRADE]
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()
