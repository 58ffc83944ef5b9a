"""The audit log: append-only, one row per dedup key however often a decision is retried."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditRow
from store.records import AuditRecord
from store.upsert import insert_if_absent


async def append_audit(session: AsyncSession, *, record: AuditRecord, occurred_at: datetime) -> bool:
    """Append the record unless its dedup key is there already; True when it is new."""
    new_id = await insert_if_absent(
        session,
        AuditRow,
        {
            "dedup_key": record.dedup_key,
            "occurred_at": occurred_at,
            "actor": record.actor,
            "action": record.action,
            "user_id": record.user_id,
            "mercadopago_payment_id": record.mercadopago_payment_id,
            "external_reference": record.external_reference,
            "detail": dict(record.detail),
        },
        key=["dedup_key"],
    )
    return new_id is not None
