"""Run inside a bot's container (``python -c``): the bot's memory, read as the bot itself
(its own ACL user, from the environment Compose gives it).

argv: the bot's name. Prints one JSON object: ids in each index, the records, and which
ids the recorder announced in its events.
"""

import json
import os
import sys

from bulkhead.memory.deployment import connection_from_environment
from bulkhead.memory.keys import BotKeys
from bulkhead.memory.store import MemoryStore

bot = sys.argv[1]
connection = connection_from_environment(os.environ)
assert connection is not None, "no BULKHEAD_MEMORY_URL in this container"
client = connection.client(socket_timeout=10)
store = MemoryStore(client, bot)
keys = BotKeys(bot)
events = store.events(count=1_000_000)


def announced(name: str, field: str) -> list[str]:
    return [str(e["data"][field]) for e in events if e["event"] == name]


print(
    json.dumps(
        {
            "trade_ids": store.trade_ids(),
            "order_ids": [i.decode() for i in client.zrange(keys.orders, 0, -1)],
            "order_hashes": int(client.hlen(keys.order_data)),
            "trade_hashes": int(client.hlen(keys.trade_data)),
            "orders": [
                {"order_id": o.order_id, "trade_id": o.trade_id, "amount": o.amount, "cost": o.cost}
                for o in store.orders()
            ],
            "trades": [{"trade_id": t.trade_id, "is_open": t.is_open} for t in store.trades()],
            "order_recorded": announced("order_recorded", "order_id"),
            "trade_closed": announced("trade_closed", "trade_id"),
        }
    )
)
