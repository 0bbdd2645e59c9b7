"""A guided tour of the twin with the real ccxt client: what ``make demo`` shows a new user.

It proves the compartment from the outside: the bot's key trades its sub-account's
budget, and the same key is refused when it tries to move money.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt

from bulkhead.kucoin import ccxt_overrides
from bulkhead.sim.engine import Twin

Say = Callable[[str], None]


def client_for(url: str, credential: dict[str, Any]) -> Any:
    return ccxt.kucoin(
        {
            "apiKey": credential["apiKey"],
            "secret": credential["secret"],
            "password": credential["passphrase"],
            **ccxt_overrides(url),
        }
    )


def _free(balance: dict[str, Any]) -> str:
    return ", ".join(f"{code} {amount:g}" for code, amount in balance["total"].items() if amount)


def run_tour(twin: Twin, url: str, credentials: list[dict[str, Any]], say: Say) -> None:
    by_name = {c["name"]: c for c in credentials}
    bot = client_for(url, by_name["bot1-trade"])
    markets = bot.load_markets()
    say(f"1. ccxt loaded {len(markets)} markets from the twin: {', '.join(markets)}")
    say(f"2. the bot's key sees only its sub-account: {_free(bot.fetch_balance())}")
    ticker = bot.fetch_ticker("XRP/USDT")
    say(f"3. XRP/USDT bid {ticker['bid']} / ask {ticker['ask']} (recorded prices, replayed live)")
    order = bot.create_order("XRP/USDT", "market", "buy", 10)
    filled = bot.fetch_order(order["id"], "XRP/USDT")
    say(
        f"4. market buy 10 XRP filled at {filled['average']} for {filled['cost']:.4f} USDT, "
        f"fee {filled['fee']['cost']:.6f} {filled['fee']['currency']}"
    )
    limit_price = float(bot.price_to_precision("XRP/USDT", ticker["ask"] * 1.05))
    resting = bot.create_order("XRP/USDT", "limit", "sell", 10, limit_price)
    held = bot.fetch_balance()["XRP"]
    say(f"5. limit sell at {limit_price} rests on the book; XRP held: {held['used']:g}")
    bot.cancel_order(resting["id"], "XRP/USDT")
    say(f"6. cancelled; XRP free again: {bot.fetch_balance()['XRP']['free']:g}")
    master = twin.user_by_name("master")
    before = master.balance("main", "USDT").balance
    try:
        bot.transfer("USDT", 50, "trade", "main")
        say("7. UNEXPECTED: the trade-only key moved funds")
    except ccxt.BaseError as error:
        say(f"7. the bot's key tried to move 50 USDT and was refused: {type(error).__name__}")
    after = master.balance("main", "USDT").balance
    refused = [m for m in twin.state.movements if not m.accepted]
    say(
        f"8. master balance unchanged ({_money(before)} -> {_money(after)} USDT); "
        f"{len(refused)} refused fund movement(s) on record"
    )


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


@dataclass(frozen=True)
class Books:
    """The twin's books at a glance, as the demo's status view shows them."""

    #: per user, in creation order: (user, [(account, currency, balance)]) of the
    #: non-zero balances, sorted by account, then currency
    balances: list[tuple[str, list[tuple[str, str, Decimal]]]]
    orders: int
    #: orders placed from the master account (a bot's key never can)
    master_orders: int
    fills: int
    #: fund moves (transfers, withdrawals) the twin refused
    refused_moves: int


def books(twin: Twin) -> Books:
    state = twin.state
    balances = [
        (
            user.name,
            [
                (account, currency, balance.balance)
                for account, per_currency in sorted(user.accounts.items())
                for currency, balance in sorted(per_currency.items())
                if balance.balance
            ],
        )
        for user in state.users.values()
    ]
    return Books(
        balances=balances,
        orders=len(state.orders),
        master_orders=sum(1 for o in state.orders.values() if state.users[o.uid].is_master),
        fills=len(state.fills),
        refused_moves=sum(1 for m in state.movements if not m.accepted),
    )
