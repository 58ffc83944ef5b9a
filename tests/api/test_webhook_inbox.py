"""The webhook inbox's queue is bounded: when the database falls behind, records are shed and
counted, and recording never waits."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter

from sqlalchemy import func, select

from api.inbox import InboxEntry, WebhookInbox
from store.models import WebhookEventRow
from tests.support.waiting import eventually


def _accepted(n: int) -> InboxEntry:
    return InboxEntry(
        topic="payment",
        action="payment.updated",
        resource_id=str(5400000000 + n),
        request_id=None,
        signature_valid=True,
        outcome="accepted",
        detail="relayed",
    )


def _forged(n: int) -> InboxEntry:
    return InboxEntry(
        topic="payment",
        action=None,
        resource_id=str(5500000000 + n),
        request_id=None,
        signature_valid=False,
        outcome="rejected",
        detail="signature: SignatureMismatch",
    )


async def _count(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(WebhookEventRow))


async def test_a_full_queue_sheds_records_without_waiting(db, database_url):
    shed = Counter()
    inbox = WebhookInbox(db, max_queued=100, refused_samples_per_minute=0, on_shed=lambda reason: shed.update([reason]))
    blocker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # the database stalls: nothing can be written
        started = time.perf_counter()
        futures = [inbox.record(_accepted(n)) for n in range(1000)]
        elapsed = time.perf_counter() - started
        assert inbox.queued <= 100
        assert sum(f is not None for f in futures) == 100
        assert shed == Counter({"queue_full": 900})
        assert elapsed < 1.0  # 1,000 records queued or shed at once, never waiting for the database
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert await eventually(lambda: _count_is(db, 100), timeout=10, what="100 rows written")
    await inbox.drain(timeout=5)
    assert inbox.queued == 0


async def _count_is(db, expected: int) -> bool:
    return await _count(db) == expected


async def test_refused_records_are_sampled_accepted_ones_kept(db):
    shed = Counter()
    now = [0.0]
    inbox = WebhookInbox(
        db, refused_samples_per_minute=3, on_shed=lambda reason: shed.update([reason]), clock=lambda: now[0]
    )
    kept = [inbox.record(_forged(n)) for n in range(10)] + [inbox.record(_accepted(n)) for n in range(10)]
    assert sum(f is not None for f in kept) == 3 + 10
    now[0] += 20.0  # one sample back a minute's third later
    assert inbox.record(_forged(99)) is not None and inbox.record(_forged(100)) is None
    assert shed == Counter({"sampled_out": 8})
    assert await eventually(lambda: _count_is(db, 14), timeout=10, what="14 rows written")
