"""The one error tree, grouped by what the caller must do.

Every error Bulkhead raises on purpose derives from ``BulkheadError`` through one of three
groups; each group says what happens next and which code the ``bulkhead`` command exits
with (the CLI catches the tree once, in ``bulkhead.cli.common``, and prints one line):

=================  ====  ==========================================================
group              exit  the caller
=================  ====  ==========================================================
``OperatorError``     2  stops, starts nothing, tells the operator what to fix
``TemporaryError``   75  retries with backoff, or runs degraded (EX_TEMPFAIL)
``Denied``           77  denies this one action and carries on (EX_NOPERM)
=================  ====  ==========================================================

A subclass may carry a more precise code (``LeaseHeld``: 4, the bot already runs), which
``run-bot`` also returns. Anything outside the tree is a programming bug and keeps its
traceback. Library errors are translated where they enter Bulkhead (``raise X from e``);
the concrete classes live beside the code that raises them (``config.problems.SpecError``,
``freqtrade.loading.StrategyRefused``, ``memory.server.MemoryUnavailable``, ...).

A leaf: imports nothing from Bulkhead, so every layer (the twin too) can raise these.
"""

from __future__ import annotations

from typing import ClassVar


class BulkheadError(Exception):
    """An error Bulkhead raised on purpose, with a message meant for the operator.

    Raise a group below, not this: the group tells the caller what to do.
    """

    #: what the ``bulkhead`` command exits with when this error ends it
    exit_code: ClassVar[int] = 1

    def lines(self) -> list[str]:
        """The message as the lines to show (most errors have one)."""
        return str(self).splitlines() or [type(self).__name__]


class OperatorError(BulkheadError):
    """Stop and tell the operator: the spec, a secret, a key, a strategy file or the host's
    setup must be fixed by hand. Retrying changes nothing; nothing is started."""

    exit_code: ClassVar[int] = 2


class TemporaryError(BulkheadError):
    """Retry with backoff, or run degraded: a service Bulkhead depends on (the exchange,
    Redis) did not answer or is not up yet. The same call may succeed later."""

    exit_code: ClassVar[int] = 75


class Denied(BulkheadError):
    """Deny this one action and carry on: a risk rule refused it. The reason is logged and
    stored; the bot keeps running. (Inside a running bot a denial is a value, a decision
    with its reason; raise this only where a caller cannot take a value.)"""

    exit_code: ClassVar[int] = 77
