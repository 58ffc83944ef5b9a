"""Retention of the outbox: delivered events go after RETENTION_DAYS, in bounded batches, oldest
first; events still owed to a consumer (pending, parked) stay whatever their age."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from activities.retention import RetentionActivities
from store.models import EventRow, utcnow
from workflows.retention_messages import PurgeBatch


async def _seed(sessions, events: list[tuple[str, int, str]]) -> None:
    now = utcnow()
    async with sessions() as session, session.begin():
        session.add_all(
            EventRow(
                event_key=key,
                type="payment.approved",
                user_id=7,
                occurred_at=now - timedelta(days=age),
                data={},
                delivery_status=status,
                attempts=1,
                delivered_at=now - timedelta(days=age) if status == "DELIVERED" else None,
            )
            for key, age, status in events
        )


async def _keys(sessions) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(EventRow.event_key).order_by(EventRow.id)))


async def test_delivered_events_past_the_period_go_and_owed_ones_stay(sessions):
    await _seed(
        sessions,
        [
            ("old-delivered-1", 200, "DELIVERED"),
            ("old-pending", 150, "PENDING"),
            ("old-parked", 120, "PARKED"),
            ("old-delivered-2", 91, "DELIVERED"),
            ("young-delivered", 89, "DELIVERED"),
            ("young-pending", 1, "PENDING"),
        ],
    )
    retention = RetentionActivities(sessions, inbox_days=90, audit_days=365)

    result = await retention.purge_events(PurgeBatch(limit=100))

    assert (result.deleted, result.more) == (2, False)
    assert await _keys(sessions) == ["old-pending", "old-parked", "young-delivered", "young-pending"]


async def test_events_go_in_bounded_batches_oldest_first(sessions):
    await _seed(sessions, [(f"old-{n}", 100, "DELIVERED") for n in range(5)])
    retention = RetentionActivities(sessions, inbox_days=90, audit_days=365)

    first = await retention.purge_events(PurgeBatch(limit=2))
    assert (first.deleted, first.more) == (2, True)
    assert await _keys(sessions) == ["old-2", "old-3", "old-4"]
    results = [await retention.purge_events(PurgeBatch(limit=2)) for _ in range(2)]
    assert [(r.deleted, r.more) for r in results] == [(2, True), (1, False)]
    assert await _keys(sessions) == []
