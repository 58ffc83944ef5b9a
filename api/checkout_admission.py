"""How many checkout calls one API process waits on at once.

Each checkout call holds a request, a connection and an update waiting on the workflow. Past the
point where the worker keeps up, more of them only queue: every buyer then waits longer and the
machine does no more. Beyond `limit` calls in flight a checkout is refused at once, before any
workflow starts (nothing is left behind), with Retry-After; the storefront retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class CheckoutAdmission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def admit(self) -> Iterator[bool]:
        """Yields whether this call may go on; counted in flight until the block ends."""
        if self.in_flight >= self.limit:
            yield False
            return
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1
