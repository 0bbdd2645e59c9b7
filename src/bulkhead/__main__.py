"""``python -m bulkhead``: the same command as ``bulkhead``, for detached supervisors."""

from bulkhead.cli.main import run

run()
