"""Load shapes: N requests in flight for a while (closed loop), or a fixed arrival rate (open loop).

Latencies in the open loop count from when each request was due, not from when it went out:
a generator that falls behind shows up as latency instead of hiding it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Operation = Callable[[int], Awaitable[object]]


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)  # seconds, successful operations only
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    # successes that ended within a time-bound run's window (a straggler's wait is no throughput)
    in_window: int | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        done = self.ok if self.in_window is None else self.in_window
        return done / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in seconds (nan when nothing succeeded)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[rank]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def record(self, started: float, outcome: BaseException | None) -> None:
        if outcome is None:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors[_kind(outcome)] += 1


def merged(samples: list[Sample]) -> Sample:
    """One sample out of several slices of the same measurement."""
    whole = Sample()
    for part in samples:
        whole.latencies += part.latencies
        whole.errors += part.errors
        whole.elapsed += part.elapsed
    if samples and all(part.in_window is not None for part in samples):
        whole.in_window = sum(part.in_window or 0 for part in samples)
    return whole


def _kind(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text[:80]}" if text else type(error).__name__


async def _timed(operation: Operation, index: int, due: float, sample: Sample) -> bool:
    try:
        await operation(index)
    except Exception as exc:  # counted, never raised: one failure must not end the run
        sample.record(due, exc)
        return False
    sample.record(due, None)
    return True


async def closed_loop(
    operation: Operation,
    *,
    concurrency: int,
    duration: float = float("inf"),
    count: int | None = None,
    first_index: int = 0,
) -> Sample:
    """`concurrency` callers, each starting its next operation as soon as the last one ended,
    for `duration` seconds or `count` operations, whichever comes first."""
    sample = Sample()
    indexes = iter(range(first_index, first_index + (count if count is not None else 10**12)))
    begin = time.perf_counter()
    deadline = begin + duration
    in_window = 0

    async def caller() -> None:
        nonlocal in_window
        while time.perf_counter() < deadline:
            index = next(indexes, None)
            if index is None:
                return
            if await _timed(operation, index, time.perf_counter(), sample) and time.perf_counter() <= deadline:
                in_window += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    sample.elapsed = time.perf_counter() - begin
    if sample.elapsed > duration:  # time-bound: the rate is what completed within the window
        sample.elapsed, sample.in_window = duration, in_window
    return sample


async def fixed_rate(
    operation: Operation, *, rate: float, duration: float, max_in_flight: int = 256, first_index: int = 0
) -> Sample:
    """`rate` operations a second for `duration` seconds, at most `max_in_flight` at once."""
    sample = Sample()
    total = max(1, int(rate * duration))
    slots = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task] = set()
    begin = time.perf_counter()

    async def one(index: int, due: float) -> None:
        try:
            await _timed(operation, index, due, sample)
        finally:
            slots.release()

    for i in range(total):
        due = begin + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        await slots.acquire()
        task = asyncio.create_task(one(first_index + i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    sample.elapsed = max(time.perf_counter() - begin, duration)
    return sample
