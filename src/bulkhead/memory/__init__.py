"""Per-bot memory in Redis: trades, orders and fills, equity, events and insights.

Every key is built in ``keys``; a bot's keys share one hash tag, so its scripts stay
Redis Cluster safe and its ACL user can be fenced to exactly its own prefix.
"""
