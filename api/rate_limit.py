"""Rate limits per source address: unsigned IPN hints, and deliveries whose signature fails.

An IPN cannot be signed, so anyone can send one; each would start a workflow that reads the
payment back from MercadoPago. Token buckets (refilled continuously, `per_minute` deep) cap
that work; beyond them the webhook answers 429 and MercadoPago, a legitimate sender, retries
later. Signed webhooks are limited only by their failures: a valid signature proves the sender,
while a source that keeps sending invalid ones is refused before its HMACs are computed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._tokens = self._capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now

    def has_one(self) -> bool:
        self._refill()
        return self._tokens >= 1.0

    def take(self) -> bool:
        if self.has_one():
            self._tokens -= 1.0
            return True
        return False

    def seconds_until_one(self) -> float:
        return max(0.0, (1.0 - self._tokens) / self._rate)


class _Sources:
    """One bucket per source address; the least recently seen are forgotten beyond `max_sources`,
    so a flood from spoofed or rotating addresses cannot grow memory."""

    def __init__(self, per_minute: int, max_sources: int, clock: Callable[[], float]) -> None:
        self._per_minute = per_minute
        self._max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, source: str) -> bool:
        return source in self._buckets

    def bucket(self, source: str) -> TokenBucket:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self._per_minute, self._clock)
            if len(self._buckets) > self._max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        return bucket


class IpnRateLimiter:
    """Per source address and for everyone. Runs on the event loop only: no locking needed."""

    def __init__(
        self,
        per_ip_per_minute: int,
        global_per_minute: int,
        *,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._global = TokenBucket(global_per_minute, clock)
        self._sources = _Sources(per_ip_per_minute, max_sources, clock)

    def admit(self, source: str) -> float | None:
        """None when the hint may go ahead, else the seconds to wait before retrying."""
        bucket = self._sources.bucket(source)
        if not bucket.take():
            return bucket.seconds_until_one()
        if not self._global.take():
            return self._global.seconds_until_one()
        return None


class FailureRateLimiter:
    """Per source address, charged only by failures: `blocked` before the work, `failed` after
    it failed. No global bucket: a flood of failures from others must not lock out the sender
    whose signatures hold. Runs on the event loop only: no locking needed."""

    def __init__(
        self, failures_per_minute: int, *, max_sources: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sources = _Sources(failures_per_minute, max_sources, clock)

    def blocked(self, source: str) -> float | None:
        """None when the source may still try, else the seconds until it may again."""
        if source not in self._sources:
            return None
        bucket = self._sources.bucket(source)
        return None if bucket.has_one() else max(1.0, bucket.seconds_until_one())

    def failed(self, source: str) -> None:
        self._sources.bucket(source).take()
