"""What the models accept and what they refuse as accepted-but-wrong, each with its line."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bulkhead.config.loader import SpecError, parse_fleet
from bulkhead.config.models import MIN_STAKE, Bot, Fleet

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bulkhead.yaml"


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return document


def with_bot(**changes: Any) -> dict[str, Any]:
    document = example()
    document["bots"][0].update(changes)
    return document


def two_bots(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    document = example()
    template = document["bots"][0]
    document["bots"] = [{**copy.deepcopy(template), **first}, {**copy.deepcopy(template), **second}]
    return document


def loaded(document: dict[str, Any]) -> Fleet:
    return parse_fleet(document)


def refusal(document: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_fleet(document)
    return caught.value.problems


# -- exchange.target ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "rendered"),
    [
        ("http://127.0.0.1:8899", "http://127.0.0.1:8899"),
        ("http://127.8.9.10:8899", "http://127.8.9.10:8899"),
        ("http://localhost:8899", "http://localhost:8899"),
        ("http://[::1]:8899", "http://[::1]:8899"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("http://127.1:8899", "http://127.0.0.1:8899"),
    ],
)
def test_a_twin_on_this_machine_is_accepted(target: str, rendered: str):
    bot = loaded(with_bot(exchange={"target": target})).bots[0]
    assert bot.exchange.is_twin
    assert bot.exchange.twin_url == rendered


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.5:8899",
        "http://evil.example.com",
        "https://api.kucoin.com",
        "http://0.0.0.0:8899",
        "http://[::ffff:127.0.0.1]:8899",
        "http://localhost.evil.example.com",
        "http://twin:8080",
    ],
)
def test_a_twin_elsewhere_is_refused_unless_the_spec_says_it_is_meant(target: str):
    problems = refusal(with_bot(exchange={"target": target}))
    assert len(problems) == 1
    assert problems[0].startswith(
        "bots.0.exchange.target: a twin must be on this machine (127.0.0.0/8, ::1 or "
        "localhost), since the bot's key is sent to it and preflight trusts its answers"
    )
    assert "set exchange.remote_twin: true" in problems[0]


@pytest.mark.parametrize("target", ["http://twin:8080", "https://twin.example.com:8443"])
def test_a_remote_twin_is_accepted_when_the_spec_opts_in(target: str):
    exchange = loaded(with_bot(exchange={"target": target, "remote_twin": True})).bots[0].exchange
    assert exchange.remote_twin
    assert exchange.twin_url == target


@pytest.mark.parametrize("target", ["http://twin.example.com:8080", "http://10.0.0.5:8899"])
def test_a_remote_twin_over_plain_http_must_be_a_compose_service_name(target: str):
    problems = refusal(with_bot(exchange={"target": target, "remote_twin": True}))
    assert problems == [
        "bots.0.exchange.target: a remote twin over plain http must be a single-label name "
        "such as a Compose service (http://twin:8080); elsewhere use https "
        f"(got {target + '/'!r})"
    ]


def test_remote_twin_must_be_a_real_boolean_not_a_truthy_string():
    problems = refusal(with_bot(exchange={"target": "http://twin:8080", "remote_twin": "yes"}))
    assert problems == ["bots.0.exchange.remote_twin: Input should be a valid boolean (got 'yes')"]


def test_remote_twin_with_real_kucoin_is_a_contradiction():
    problems = refusal(with_bot(exchange={"target": "kucoin", "remote_twin": True}))
    assert problems[0].startswith("bots.0.exchange.remote_twin: remote_twin: true is only for")


def test_a_twin_url_carrying_a_password_is_refused_without_showing_it():
    problems = refusal(with_bot(exchange={"target": "http://u:hunter2@127.0.0.1:8899"}))
    assert problems[0].startswith("bots.0.exchange.target: a twin URL may not carry a user")
    assert "hunter2" not in problems[0]


def test_a_twin_url_with_a_query_is_refused():
    problems = refusal(with_bot(exchange={"target": "http://127.0.0.1:8899/?x=1"}))
    assert problems[0].startswith("bots.0.exchange.target: a twin URL has no query or fragment")


def test_a_target_that_is_neither_kucoin_nor_http_is_refused():
    problems = refusal(with_bot(exchange={"target": "ftp://127.0.0.1"}))
    assert problems == [
        "bots.0.exchange.target: should be kucoin or a twin URL such as "
        "http://127.0.0.1:8899 (got 'ftp://127.0.0.1')"
    ]


# -- budget and stake ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "trades", "stake", "needed"),
    [("0.05", 1, "0.04", "0.11"), ("0.009", 1, "0.00", "0.11"), ("1", 20, "0.04", "2.07")],
    ids=["under the floor", "rounds to zero", "split too thin"],
)
def test_a_budget_whose_stake_is_under_the_exchange_minimum_is_refused(
    amount: str, trades: int, stake: str, needed: str
):
    problems = refusal(
        with_bot(budget={"amount": amount, "currency": "USDT"}, max_open_trades=trades)
    )
    assert problems == [
        f"bots.0.budget.amount: {amount} USDT leaves a stake of {stake} USDT per "
        f"trade (amount x 0.99 / 1.02102 for the gateway's worst case / max_open_trades "
        f"{trades}, rounded down to 0.01), under 0.1 "
        f"USDT, the smallest order KuCoin takes on any pair (allowed: at least {needed} USDT "
        f"for {trades} open trade(s))"
    ]


@pytest.mark.parametrize(("amount", "trades"), [("0.11", 1), ("2.07", 20), ("100", 3)])
def test_the_smallest_budget_the_refusal_names_is_accepted(amount: str, trades: int):
    bot = loaded(with_bot(budget={"amount": amount}, max_open_trades=trades)).bots[0]
    assert bot.stake_per_trade >= MIN_STAKE


def test_a_dry_run_bot_is_held_to_the_same_minimum_stake():
    problems = refusal(with_bot(budget={"amount": "0.05"}, mode="dry_run"))
    assert problems[0].startswith("bots.0.budget.amount: 0.05 USDT leaves a stake")


def test_a_budget_with_more_than_eight_decimal_places_is_refused():
    problems = refusal(with_bot(budget={"amount": "100.000000001"}))
    assert problems[0].startswith(
        "bots.0.budget.amount: Decimal input should have no more than 8 decimal places"
    )


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_infinite_and_nan_numbers_are_refused(value: float):
    problems = refusal(with_bot(stoploss=value))
    assert problems[0].startswith("bots.0.stoploss: Input should be a finite number")


# -- sub-accounts, names, pairs -----------------------------------------------------------


@pytest.mark.parametrize("other", ["BOT1", "Bot1", "bot1"])
def test_two_live_bots_on_one_subaccount_in_another_case_are_refused(other: str):
    problems = refusal(two_bots({"subaccount": "bot1"}, {"name": "bot2", "subaccount": other}))
    assert problems == [
        f"bots.1.subaccount: {other!r} is the sub-account of live bot bots.0 ('bot1') too, "
        "compared ignoring case and surrounding spaces (allowed: a sub-account of its own "
        "for each live bot)"
    ]


def test_a_subaccount_with_a_trailing_space_is_refused():
    problems = refusal(with_bot(subaccount="bot1 "))
    assert problems == [
        "bots.0.subaccount: has spaces around it or unprintable characters, which no KuCoin "
        "sub-account name has (allowed: the name exactly as KuCoin shows it) (got 'bot1 ')"
    ]


def test_two_live_bots_on_one_subaccount_with_a_trailing_space_are_refused():
    problems = refusal(two_bots({"subaccount": "bot1"}, {"name": "bot2", "subaccount": "bot1 "}))
    assert problems == [
        "bots.1.subaccount: has spaces around it or unprintable characters, which no KuCoin "
        "sub-account name has (allowed: the name exactly as KuCoin shows it) (got 'bot1 ')"
    ]


def test_dry_run_bots_may_share_a_subaccount():
    fleet = loaded(two_bots({"mode": "dry_run"}, {"name": "bot2", "mode": "dry_run"}))
    assert [bot.subaccount for bot in fleet.bots] == ["bot1", "bot1"]


def test_a_duplicate_bot_name_names_the_name_and_both_indices():
    document = two_bots({"subaccount": "one"}, {"name": "bot2", "subaccount": "two"})
    document["bots"].append({**copy.deepcopy(document["bots"][0]), "subaccount": "three"})
    assert refusal(document) == [
        "bots.2.name: 'bot1' is also the name of bots.0 (allowed: a name no other bot has)"
    ]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["USDT/USDT"], "bots.0.pairs.0: pair USDT/USDT trades USDT against itself"),
        (["XRP/USDT", "XRP/USDT"], "bots.0.pairs.1: pair XRP/USDT is listed twice, here and at"),
        (["XRP/USDT\n"], "bots.0.pairs.0: pair 'XRP/USDT\\n' is not BASE/QUOTE"),
        (["xrp/usdt"], "bots.0.pairs.0: pair 'xrp/usdt' is not BASE/QUOTE"),
        (["XRP/USDT", "ETH/BTC"], "bots.0.pairs.1: pair ETH/BTC is not quoted in the budget"),
    ],
    ids=["base is quote", "twice", "trailing newline", "lower case", "other quote"],
)
def test_a_pair_that_cannot_trade_names_its_index(pairs: list[str], expected: str):
    problems = refusal(with_bot(pairs=pairs))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


# -- strategy params ----------------------------------------------------------------------


def test_strategy_params_accept_json_values():
    params = {"rsi": 30, "weights": [0.5, 0.5], "nested": {"on": True, "label": "x"}}
    bot = loaded(with_bot(strategy={"name": "TwinScalper", "params": params})).bots[0]
    assert bot.strategy.params == params


@pytest.mark.parametrize(
    "value",
    [datetime.date(2024, 1, 1), {1, 2}, b"raw", float("inf")],
    ids=["date", "set", "bytes", "infinity"],
)
def test_strategy_params_that_json_cannot_carry_are_refused_at_load(value: Any):
    problems = refusal(with_bot(strategy={"name": "TwinScalper", "params": {"p": value}}))
    assert problems[0].startswith("bots.0.strategy.params.p")


def test_an_overlong_unknown_strategy_name_is_cut_short_in_its_line():
    problems = refusal(with_bot(strategy={"name": "M" * 10_000}))
    assert len(problems[0]) < 200


def test_a_bot_built_directly_is_held_to_the_same_rules():
    spec = with_bot(budget={"amount": "0.05"})["bots"][0]
    with pytest.raises(ValueError, match="smallest order KuCoin takes"):
        Bot.model_validate(spec)


def test_a_retention_too_long_for_redis_millisecond_times_is_refused():
    problems = refusal(with_bot(memory={"retention": {"events_days": 1e300}}))
    assert problems[0].startswith(
        "bots.0.memory.retention.events_days: Input should be less than or equal to 1000000"
    )


def test_a_retention_of_centuries_still_means_keep_it_all():
    bot = loaded(with_bot(memory={"retention": {"events_days": 100_000}})).bots[0]
    assert bot.memory.retention.events_days == 100_000
