"""What the gateway counts as upstream trouble for a bot's guard, and for how long."""

from __future__ import annotations

from bulkhead.gateway.trouble import MAX_KEPT, WINDOW_MS, UpstreamTrouble
from bulkhead.gateway.upstream import Answer


def answer(body: bytes, status: int = 200, outcome: str = "answered") -> Answer:
    return Answer(status, body, outcome)  # type: ignore[arg-type]


def test_5xx_lost_garbled_and_frozen_answers_are_trouble():
    clock = [1_000_000]
    trouble = UpstreamTrouble(lambda: clock[0])
    trouble.note("a", answer(b'{"code":"500000","msg":"x"}', 500))
    trouble.note("a", answer(b"", 0, "lost"))
    trouble.note("a", answer(b"<html>", 200, "garbage"))
    trouble.note("a", answer(b'{"code":"411100","msg":"User is frozen"}'))

    assert [code for _, code in trouble.recent("a")] == ["500", "lost", "garbage", "411100"]
    assert trouble.recent("b") == []


def test_answers_that_say_the_exchange_works_are_not_trouble():
    trouble = UpstreamTrouble(lambda: 1)
    trouble.note("a", answer(b'{"code":"200000","data":{}}'))
    trouble.note("a", answer(b'{"code":"429000","msg":"Too Many Requests"}', 429))
    trouble.note("a", answer(b'{"code":"200004","msg":"Balance insufficient!"}'))
    trouble.note("a", answer(b'{"code":"400100","msg":"bad"}', 400))

    assert trouble.recent("a") == []


def test_trouble_older_than_ten_minutes_is_forgotten_and_a_storm_is_bounded():
    clock = [0]
    trouble = UpstreamTrouble(lambda: clock[0])
    for _ in range(MAX_KEPT * 3):
        trouble.note("a", answer(b"", 502))
    assert len(trouble.recent("a")) == MAX_KEPT

    clock[0] = WINDOW_MS + 1
    assert trouble.recent("a") == []
