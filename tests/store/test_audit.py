"""store.record_audit: append-only, one row per dedup key however often it is retried."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from store.models import AuditRow
from store.records import AuditRecord


def audit(**overrides) -> AuditRecord:
    return AuditRecord(
        **(
            {
                "dedup_key": "checkout:chk-1:created",
                "actor": "checkout/chk-1",
                "action": "checkout.created",
                "user_id": 7,
                "external_reference": "PLAN-2-USER-7-0a1b2c3d",
                "detail": {"planId": "2"},
            }
            | overrides
        )
    )


async def audit_rows(sessions) -> list[AuditRow]:
    async with sessions() as session:
        return list(await session.scalars(select(AuditRow).order_by(AuditRow.id)))


async def test_record_is_kept_with_its_detail(store, sessions):
    await store.record_audit(audit())

    [row] = await audit_rows(sessions)
    assert (row.action, row.user_id, row.detail) == ("checkout.created", 7, {"planId": "2"})
    assert row.occurred_at.tzinfo is not None


async def test_a_retried_record_is_not_written_twice_nor_changed(store, sessions):
    await store.record_audit(audit())
    await store.record_audit(audit(detail={"planId": "changed"}))
    await asyncio.gather(*(store.record_audit(audit()) for _ in range(10)))

    [row] = await audit_rows(sessions)
    assert row.detail == {"planId": "2"}


async def test_distinct_keys_append(store, sessions):
    await store.record_audit(audit())
    await store.record_audit(audit(dedup_key="checkout:chk-1:completed", action="checkout.completed"))

    assert [row.action for row in await audit_rows(sessions)] == ["checkout.created", "checkout.completed"]
