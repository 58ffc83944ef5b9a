"""Processes lost in the middle of a burst (300 webhooks for 60 checkouts): the worker killed
(SIGKILL) again and again, the API restarted. Senders retry what was refused or went
unanswered, as MercadoPago does and as a frontend does with its Idempotency-Key. Afterwards
every approved payment is applied exactly once and every notification was accepted.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.load.burst import Burst
from tests.support.waiting import eventually

CHECKOUTS = 60


@pytest.fixture(scope="module")
def stack(proxied_stack):
    return proxied_stack[0]


def restarting(name: str, times: int, every: int, *, crash: bool):
    """A fault that restarts process `name` each time `every` more deliveries were answered."""

    async def fault(burst: Burst) -> None:
        process = burst.stack.stack.processes[name]
        for round_ in range(1, times + 1):

            async def reached(target=round_ * every) -> bool:
                return burst.progress >= target

            await eventually(reached, timeout=120, interval=0.05, what=f"{round_ * every} deliveries answered")
            await asyncio.to_thread(process.kill if crash else process.stop)
            await asyncio.to_thread(process.start)
            burst.restarts += 1

    return fault


async def burst_through(stack, users: range, fault, capsys, name: str) -> None:
    burst = Burst(
        stack,
        checkouts=CHECKOUTS,
        users=list(users),
        webhooks_per_payment=5,
        concurrency=20,
        checkout_concurrency=6,
        retry_unavailable=True,
        seed=len(name),
    )
    burst.restarts = 0
    result = await burst.run(during=fault)
    await burst.wait_applied(timeout=120)
    figures = burst.report(name, stack.backend, {"restarts": burst.restarts})
    with capsys.disabled():
        print(f"\n{name} on {stack.backend}: {figures}")
    assert burst.restarts >= 2
    assert not result.checkout_failures, result.checkout_failures[:5]
    assert len(result.final) >= 5 * CHECKOUTS
    assert set(result.final.values()) == {200}  # every notification accepted in the end
    assert set(result.statuses) <= {0, 200, 503}, result.statuses  # refused or shed, never a 500
    # periods chain with no gap or overlap, even when a worker died mid-step
    assert await burst.check_exactly_once(contiguous=True) == 0


async def test_worker_killed_repeatedly_during_a_burst(stack, capsys):
    await burst_through(
        stack, range(840_000, 840_015), restarting("worker", 3, 70, crash=True), capsys, "burst-worker-killed"
    )


async def test_api_restarted_during_a_burst(stack, capsys):
    await burst_through(
        stack, range(850_000, 850_015), restarting("api", 2, 100, crash=False), capsys, "burst-api-restarted"
    )
