"""Rate limits for unsigned IPN hints: per source address and for all sources together.

An IPN cannot be signed, so anyone can send one; each would start a workflow that reads the
payment back from MercadoPago. Token buckets (refilled continuously, `per_minute` deep) cap
that work; beyond them the webhook answers 429 and MercadoPago, a legitimate sender, retries
later. Signed webhooks are not limited here: their signature already proves the sender.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._tokens = self._capacity
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def seconds_until_one(self) -> float:
        return max(0.0, (1.0 - self._tokens) / self._rate)


class IpnRateLimiter:
    """One bucket per source address (the least recently seen are forgotten beyond
    `max_sources`, so a spoofed flood cannot grow memory) and one for everyone. Runs on the
    event loop only: no locking needed."""

    def __init__(self, per_ip_per_minute: int, global_per_minute: int, *, max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._per_ip = per_ip_per_minute
        self._clock = clock
        self._global = TokenBucket(global_per_minute, clock)
        self._sources: OrderedDict[str, TokenBucket] = OrderedDict()
        self._max_sources = max_sources

    def admit(self, source: str) -> float | None:
        """None when the hint may go ahead, else the seconds to wait before retrying."""
        bucket = self._sources.get(source)
        if bucket is None:
            bucket = self._sources[source] = TokenBucket(self._per_ip, self._clock)
            if len(self._sources) > self._max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(source)
        if not bucket.take():
            return bucket.seconds_until_one()
        if not self._global.take():
            return self._global.seconds_until_one()
        return None
