"""What the twin reads from a request line and writes into a response body.

Both have fast paths for what bots send and receive on every poll; these tests hold the
fast paths to the general rule: ``parse_qsl`` for queries, plain notation without
trailing zeros or an exponent for amounts.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from bulkhead.sim.http import parse_query
from bulkhead.sim.shapes import num


@pytest.mark.parametrize(
    "query",
    [
        "",
        "type=trade",
        "symbol=XRP-USDT&type=trade",
        "a=1&b=2&a=3",  # the last of a repeated name wins
        "flag",  # a name without a value
        "a=&b",
        "&&a=1&",
        "a==b",
        "=v",
        "a=1;b=2",  # not a separator
        "symbol=BTC%2DUSDT",  # percent-encoded
        "remark=two+words",  # plus for a space
    ],
)
def test_a_query_parses_as_parse_qsl_reads_it(query: str) -> None:
    assert parse_query(query) == dict(parse_qsl(query, keep_blank_values=True))


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        ("0", "0"),
        ("-0", "0"),
        ("0.000", "0"),
        ("0E-12", "0"),
        ("1", "1"),
        ("100", "100"),
        ("1E+2", "100"),
        ("1.500", "1.5"),
        ("10.0", "10"),
        ("-1.50", "-1.5"),
        ("0.0005123", "0.0005123"),
        ("1E-7", "0.0000001"),
        ("2.5E-8", "0.000000025"),
        ("99999871.364829531200", "99999871.3648295312"),
    ],
)
def test_amounts_are_written_plainly_without_trailing_zeros(amount: str, written: str) -> None:
    assert num(Decimal(amount)) == written
