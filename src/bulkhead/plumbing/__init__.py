"""Plumbing every layer shares: private atomic file writes, free ports, client transports
that send at once, waiting with a deadline, Redis answers as text.

A leaf: it imports nothing from Bulkhead, so everything may import it, the KuCoin twin
included. One helper per piece of plumbing, so that a fix (a mode, an fsync, a clearer
timeout) reaches every caller at once; find it here before writing another.
"""

from bulkhead.plumbing.files import open_private, write_private
from bulkhead.plumbing.ports import free_port
from bulkhead.plumbing.text import as_text
from bulkhead.plumbing.transports import sending_at_once
from bulkhead.plumbing.waiting import WaitTimeout, wait_until

__all__ = [
    "WaitTimeout",
    "as_text",
    "free_port",
    "open_private",
    "sending_at_once",
    "wait_until",
    "write_private",
]
