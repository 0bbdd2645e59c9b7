"""Run inside the twin's container (``python -c``): its books, from its admin API, which
answers loopback only.

Prints one JSON object: each user's accounts by name, and every fill.
"""

import json
import urllib.request

with urllib.request.urlopen("http://127.0.0.1:8899/sim/v1/state", timeout=10) as answer:
    state = json.load(answer)["data"]
print(
    json.dumps(
        {
            "users": {
                u["name"]: {"uid": u["uid"], "accounts": u["accounts"]}
                for u in state["users"].values()
            },
            "fills": state["fills"],
        }
    )
)
