"""Duplicate hints for one payment share relays, and each delivery is covered by a relay that
started after it arrived (so the workflow's read-back sees what that delivery announced)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from api.coalesced_relay import CoalescedRelay


class Temporal:
    """Stands in for the signal-with-start: each relay waits until the test lets it finish."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []  # (payment id, hint) in the order relays started
        self.started_at: list[int] = []  # the clock when each relay started
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None
        self.clock = itertools.count()

    async def send(self, key: str, hint: int) -> None:
        self.sent.append((key, hint))
        self.started_at.append(next(self.clock))
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with


async def _until(condition, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_deliveries_during_a_relay_share_the_next_one():
    temporal = Temporal()
    relay = CoalescedRelay(temporal.send)
    first = asyncio.create_task(relay.relay("77", 0, timeout=5))
    await _until(lambda: len(temporal.sent) == 1)
    arrived = []
    duplicates = []
    for hint in range(1, 30):
        arrived.append(next(temporal.clock))
        duplicates.append(asyncio.create_task(relay.relay("77", hint, timeout=5)))
    await asyncio.sleep(0)
    assert len(temporal.sent) == 1  # they wait for the relay in flight, none starts its own

    temporal.release.set()
    await asyncio.gather(first, *duplicates)
    # one relay for the first, one more for all 29 that came meanwhile: it carries the latest hint
    assert temporal.sent == [("77", 0), ("77", 29)]
    assert temporal.started_at[1] > max(arrived)
    assert relay.lanes == 0


async def test_each_payment_has_its_own_lane():
    temporal = Temporal()
    relay = CoalescedRelay(temporal.send)
    tasks = [asyncio.create_task(relay.relay(key, 0, timeout=5)) for key in ("1", "2", "3")]
    await _until(lambda: len(temporal.sent) == 3)  # none waits for another payment's relay
    temporal.release.set()
    await asyncio.gather(*tasks)
    assert sorted(temporal.sent) == [("1", 0), ("2", 0), ("3", 0)]


async def test_a_failed_relay_fails_its_deliveries_and_the_next_ones_try_again():
    temporal = Temporal()
    relay = CoalescedRelay(temporal.send)
    temporal.fail_with = ConnectionError("temporal unreachable")
    first = asyncio.create_task(relay.relay("9", 0, timeout=5))
    await _until(lambda: len(temporal.sent) == 1)
    later = asyncio.create_task(relay.relay("9", 1, timeout=5))
    await asyncio.sleep(0)
    temporal.release.set()
    with pytest.raises(ConnectionError):
        await first
    # the one that arrived during the failed relay got a relay of its own, which failed too
    with pytest.raises(ConnectionError):
        await later
    assert temporal.sent == [("9", 0), ("9", 1)]

    temporal.fail_with = None
    await relay.relay("9", 2, timeout=5)
    assert temporal.sent[-1] == ("9", 2) and relay.lanes == 0


async def test_a_delivery_that_gives_up_leaves_the_relay_to_the_others():
    temporal = Temporal()
    relay = CoalescedRelay(temporal.send)
    patient = asyncio.create_task(relay.relay("5", 0, timeout=5))
    await _until(lambda: len(temporal.sent) == 1)
    with pytest.raises(TimeoutError):
        await relay.relay("5", 1, timeout=0.01)
    temporal.release.set()
    await patient  # still answered by the relay it waited for
    # the impatient delivery's batch is still relayed: MercadoPago will resend it anyway
    assert temporal.sent == [("5", 0), ("5", 1)]
    await _until(lambda: relay.lanes == 0)


async def test_shutdown_waits_for_relays_in_flight():
    temporal = Temporal()
    relay = CoalescedRelay(temporal.send)
    with pytest.raises(TimeoutError):
        await relay.relay("8", 0, timeout=0.01)  # the delivery gave up; its relay is still in flight
    asyncio.get_running_loop().call_later(0.05, temporal.release.set)
    await relay.drain(timeout=2.0)
    assert relay.lanes == 0
