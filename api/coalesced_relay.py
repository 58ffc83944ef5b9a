"""Duplicate notifications for one payment share their relay to Temporal.

MercadoPago sends several notifications per payment (created, updated, and its own retries) and
they may come at once. Each is only a hint that the payment workflow should read the payment
back, so concurrent hints for one payment need not be separate signals: per payment, one relay
is in flight, and every delivery that arrives meanwhile waits for the next one, which starts
after they all arrived. The workflow reads the payment back after that relay, so it sees what
any of them announced; and a storm of duplicates no longer queues signals on one workflow.

Each delivery still gets its own answer: 200 once a relay that started after it arrived is
durable in Temporal, or the relay's error (503 for MercadoPago to retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

Send = Callable[[str, T], Awaitable[object]]


@dataclass
class _Lane(Generic[T]):
    """Deliveries of one payment not yet covered by a relay, with the hint each one carries."""

    waiting: list[tuple[asyncio.Future[None], T]] = field(default_factory=list)


class CoalescedRelay(Generic[T]):
    def __init__(self, send: Send[T]) -> None:
        self._send = send
        self._lanes: dict[str, _Lane[T]] = {}
        self._draining: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    @property
    def lanes(self) -> int:
        """Payments with a relay in flight or waiting (none once all are answered)."""
        return len(self._lanes)

    async def drain(self, timeout: float) -> None:
        """At shutdown: let relays in flight finish (their deliveries may have given up waiting)."""
        if self._draining:
            await asyncio.wait(set(self._draining), timeout=timeout)

    async def relay(self, key: str, hint: T, timeout: float) -> None:
        """Durable once this returns; raises the relay's error, or TimeoutError after `timeout`."""
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
            task = asyncio.create_task(self._drain(key, lane), name=f"relay {key}")
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        lane.waiting.append((answered, hint))  # a new lane's task first runs when we await
        # a delivery that gives up leaves the relay running for the others
        await asyncio.wait_for(answered, timeout)

    async def _drain(self, key: str, lane: _Lane[T]) -> None:
        """Relay batch after batch: each one holds whatever arrived while the previous was in flight."""
        try:
            while lane.waiting:
                batch, lane.waiting = lane.waiting, []
                try:
                    await self._send(key, batch[-1][1])
                except Exception as exc:
                    _answer(batch, exc)
                except BaseException:
                    _cancel(batch)
                    raise
                else:
                    _answer(batch, None)
        finally:
            # no await since the loop found nothing waiting: nobody joined this lane meanwhile
            _cancel(lane.waiting)
            del self._lanes[key]


def _answer(batch: Sequence[tuple[asyncio.Future[None], object]], error: Exception | None) -> None:
    for answered, _ in batch:
        if answered.done():
            continue  # that delivery already gave up waiting
        if error is None:
            answered.set_result(None)
        else:
            answered.set_exception(error)


def _cancel(batch: Sequence[tuple[asyncio.Future[None], object]]) -> None:
    for answered, _ in batch:
        answered.cancel()  # a no-op for a delivery that already gave up
