"""The twin's audit logs stay bounded: refused attempts are a ring of the latest ones,
and each keeps a short summary of what was asked, whatever the client sent."""

from __future__ import annotations

import json
from decimal import Decimal

from bulkhead.sim import limits
from bulkhead.sim.engine import Twin, summarize_request


def twin_with_master() -> Twin:
    twin = Twin.empty()
    master = twin.create_user("master", master=True)
    twin.set_balance(master, "USDT", Decimal(100), "main")
    return twin


def test_refused_movements_are_a_ring_of_the_latest_and_accepted_ones_are_all_kept() -> None:
    twin = twin_with_master()
    key = twin.create_key(twin.user_by_name("master"), ["General", "FlexTransfers"])
    twin.record_movement("universal-transfer", key, True, "200000", {"amount": "1"})
    extra = 25
    for attempt in range(limits.MAX_REFUSED_MOVEMENTS + extra):
        twin.record_movement("withdrawal", None, False, "400001", {"n": attempt})
    twin.record_movement("universal-transfer", key, True, "200000", {"amount": "2"})

    refused = [m for m in twin.state.movements if not m.accepted]
    accepted = [m for m in twin.state.movements if m.accepted]
    assert len(refused) == limits.MAX_REFUSED_MOVEMENTS
    assert [m.request["n"] for m in refused[:2]] == [extra, extra + 1]
    assert refused[-1].request["n"] == limits.MAX_REFUSED_MOVEMENTS + extra - 1
    assert [m.request["amount"] for m in accepted] == ["1", "2"]


def test_the_refused_ring_survives_a_reload(tmp_path: object) -> None:
    twin = twin_with_master()
    for attempt in range(limits.MAX_REFUSED_MOVEMENTS):
        twin.record_movement("withdrawal", None, False, "400001", {"n": attempt})
    reloaded = Twin(twin.synced_state().model_copy(deep=True))
    reloaded.record_movement("withdrawal", None, False, "400001", {"n": "newest"})
    assert len(reloaded.state.movements) == limits.MAX_REFUSED_MOVEMENTS
    assert reloaded.state.movements[0].request["n"] == 1
    assert reloaded.state.movements[-1].request["n"] == "newest"


def test_auth_refusals_are_a_ring_of_the_latest_with_cut_fields() -> None:
    twin = Twin.empty()
    for attempt in range(limits.MAX_AUTH_REFUSALS + 10):
        twin.record_auth_refusal(
            "GET", f"/api/v1/{attempt}/" + "p" * 5000, "k" * 5000, "400003", "::1"
        )
    refusals = twin.state.auth_refusals
    assert len(refusals) == limits.MAX_AUTH_REFUSALS
    assert refusals[0].path.startswith("/api/v1/10/")
    assert len(refusals[0].path) <= limits.MAX_RECORDED_PATH_CHARS + 1
    assert len(refusals[0].api_key) <= limits.MAX_RECORDED_KEY_CHARS + 1


def test_a_request_summary_keeps_scalars_cuts_long_text_and_sizes_up_containers() -> None:
    request = {
        "currency": "USDT",
        "amount": 10.5,
        "clientOid": None,
        "memo": "m" * 10_000,
        "nested": {"a": [1, 2, 3]},
        "list": list(range(1000)),
        **{f"extra{i}": i for i in range(100)},
    }
    summary = summarize_request(request)
    assert summary["currency"] == "USDT"
    assert summary["amount"] == 10.5
    assert summary["clientOid"] is None
    assert len(str(summary["memo"])) == limits.MAX_RECORDED_VALUE_CHARS + 1
    assert summary["nested"] == "<dict of 1>"
    assert summary["list"] == "<list of 1000>"
    assert len(summary) == limits.MAX_RECORDED_FIELDS + 1
    assert len(json.dumps(summary)) < 2048


def test_a_body_that_is_not_an_object_is_summarised_as_cut_text() -> None:
    assert summarize_request("x" * 10_000) == {
        "unparsed": "x" * limits.MAX_RECORDED_VALUE_CHARS + "…"
    }
    assert summarize_request([1, 2]) == {"unparsed": "[1, 2]"}
