"""The retention activities: inbox rows go after RETENTION_DAYS, audit rows after the longer
AUDIT_RETENTION_DAYS, in bounded batches, oldest first; younger rows stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from activities.retention import RetentionActivities
from store.models import AuditRow, WebhookEventRow, utcnow
from workflows.retention_messages import PurgeBatch


async def _seed(sessions, *, inbox_ages: list[int], audit_ages: list[int]) -> None:
    now = utcnow()
    async with sessions() as session, session.begin():
        session.add_all(
            WebhookEventRow(
                received_at=now - timedelta(days=age),
                topic="payment",
                resource_id=str(n),
                outcome="accepted",
                signature_valid=True,
            )
            for n, age in enumerate(inbox_ages)
        )
        session.add_all(
            AuditRow(
                occurred_at=now - timedelta(days=age),
                dedup_key=f"k{n}",
                actor="test",
                action="payment.recorded",
                detail={},
            )
            for n, age in enumerate(audit_ages)
        )


async def _ages(sessions, model, moment) -> list[int]:
    now = utcnow()
    async with sessions() as session:
        return sorted(round((now - at).total_seconds() / 86400) for at in await session.scalars(select(moment)))


async def test_old_rows_are_deleted_and_young_ones_kept(sessions):
    await _seed(sessions, inbox_ages=[1, 89, 91, 400], audit_ages=[1, 91, 364, 366, 4000])
    retention = RetentionActivities(sessions, inbox_days=90, audit_days=365)

    inbox = await retention.purge_inbox(PurgeBatch(limit=100))
    audit = await retention.purge_audit(PurgeBatch(limit=100))

    assert (inbox.deleted, inbox.more, audit.deleted, audit.more) == (2, False, 2, False)
    assert await _ages(sessions, WebhookEventRow, WebhookEventRow.received_at) == [1, 89]
    assert await _ages(sessions, AuditRow, AuditRow.occurred_at) == [1, 91, 364]


async def test_deletes_go_in_bounded_batches_oldest_first(sessions):
    await _seed(sessions, inbox_ages=[100 + n for n in range(7)] + [5], audit_ages=[])
    retention = RetentionActivities(sessions, inbox_days=90, audit_days=365)

    first = await retention.purge_inbox(PurgeBatch(limit=3))
    assert (first.deleted, first.more) == (3, True)
    assert await _ages(sessions, WebhookEventRow, WebhookEventRow.received_at) == [5, 100, 101, 102, 103]
    results = [await retention.purge_inbox(PurgeBatch(limit=3)) for _ in range(2)]
    assert [(r.deleted, r.more) for r in results] == [(3, True), (1, False)]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEventRow)) == 1
