"""Retention of the read model: the only code that deletes webhook inbox and audit rows, and
delivered events of the outbox.

Rows older than the configured periods are deleted in batches, oldest first. Events go after
RETENTION_DAYS once delivered; pending and parked ones stay whatever their age (they are still
owed to a consumer). This is the one
place allowed to delete audit rows (a test scans the code for any other UPDATE or DELETE of
the audit log); nothing anywhere updates them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.events import DeliveryStatus
from store.models import AuditRow, EventRow, WebhookEventRow, utcnow
from workflows.retention_messages import PurgeBatch, PurgeResult


class RetentionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, inbox_days: int, audit_days: int) -> None:
        self._sessions = sessions
        self._inbox_days = inbox_days
        self._audit_days = audit_days

    @activity.defn(name="retention.purge_inbox")
    async def purge_inbox(self, batch: PurgeBatch) -> PurgeResult:
        return await self._purge(WebhookEventRow, WebhookEventRow.received_at, self._inbox_days, batch.limit)

    @activity.defn(name="retention.purge_audit")
    async def purge_audit(self, batch: PurgeBatch) -> PurgeResult:
        return await self._purge(AuditRow, AuditRow.occurred_at, self._audit_days, batch.limit)

    @activity.defn(name="retention.purge_events")
    async def purge_events(self, batch: PurgeBatch) -> PurgeResult:
        # oldest first by id, the outbox's order (and its primary key: no scan of the young ones)
        cutoff = utcnow() - timedelta(days=self._inbox_days)
        async with self._sessions() as session, session.begin():
            ids = (
                await session.scalars(
                    select(EventRow.id)
                    .where(EventRow.delivery_status == DeliveryStatus.DELIVERED.value, EventRow.occurred_at < cutoff)
                    .order_by(EventRow.id)
                    .limit(batch.limit)
                )
            ).all()
            deleted = 0
            if ids:
                # still delivered: one sent again since (back to PENDING) stays
                result = cast(
                    CursorResult[Any],
                    await session.execute(
                        delete(EventRow)
                        .where(EventRow.id.in_(ids), EventRow.delivery_status == DeliveryStatus.DELIVERED.value)
                        .execution_options(synchronize_session=False)
                    ),
                )  # a DML statement's result: it has a rowcount
                deleted = result.rowcount
        return PurgeResult(deleted=deleted, more=len(ids) == batch.limit)

    async def _purge(self, model, moment, days: int, limit: int) -> PurgeResult:
        cutoff = utcnow() - timedelta(days=days)
        async with self._sessions() as session, session.begin():
            if model is AuditRow and session.get_bind().dialect.name == "postgresql":
                # the audit_log trigger lets this transaction delete only rows older than this cutoff
                await session.execute(select(func.set_config("paysaga.audit_purge_before", cutoff.isoformat(), True)))
            # ids first, then delete by id: a bounded batch on PostgreSQL and SQLite alike
            ids = (
                await session.scalars(select(model.id).where(moment < cutoff).order_by(moment, model.id).limit(limit))
            ).all()
            if ids:
                await session.execute(
                    delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
                )
        return PurgeResult(deleted=len(ids), more=len(ids) == limit)

    def all(self) -> list:
        return [self.purge_inbox, self.purge_audit, self.purge_events]
