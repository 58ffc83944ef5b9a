"""Subscriptions in the read model: the user's one row, written by their SubscriptionWorkflow,
with the ledger of paid periods beside it (one entry per MercadoPago payment, applied once).

The workflow's version decides: an older (reordered) write is ignored. The same version again is
the workflow re-running a step whose worker died after writing: its answer is the one the history
keeps, so it wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store import emitters
from store.audit import append_audit
from store.models import LedgerRow, SubscriptionRow
from store.records import AuditRecord, LedgerChange, SubscriptionRecord
from store.upsert import dialect_insert, insert_if_absent

_VERSIONED_FIELDS = ("plan_id", "status", "start_date", "end_date", "version", "updated_at")


@dataclass(frozen=True)
class SubscriptionSaved:
    subscription_id: int
    applied: bool  # this version was written; False for a stale one (whose ledger may still grow)
    event_user: int | None  # whose new subscription.* event awaits delivery, if one was recorded
    audited: AuditRecord | None  # the record's audit entry when this write appended it


async def save_subscription(session: AsyncSession, *, record: SubscriptionRecord, now: datetime) -> SubscriptionSaved:
    applied = await _upsert_version(session, record, now)
    subscription_id = await session.scalar(select(SubscriptionRow.id).where(SubscriptionRow.user_id == record.user_id))
    assert subscription_id is not None  # the upsert above inserted or found it
    for change in record.ledger:
        await _write_ledger_entry(session, change, record.user_id, subscription_id, applied=applied, now=now)
    # a stale or retried write emits nothing, as it changes nothing
    event_user = await emitters.subscription_changed(session, record, subscription_id, now) if applied else None
    audited = None
    if record.audit is not None and await append_audit(session, record=record.audit, occurred_at=now):
        audited = record.audit
    return SubscriptionSaved(subscription_id=subscription_id, applied=applied, event_user=event_user, audited=audited)


async def _upsert_version(session: AsyncSession, record: SubscriptionRecord, now: datetime) -> bool:
    """Insert the user's row, or overwrite it unless it holds a newer version; True when written."""
    statement = dialect_insert(session, SubscriptionRow).values(
        user_id=record.user_id,
        plan_id=record.plan_id,
        status=record.status.value,
        start_date=record.start_date,
        end_date=record.end_date,
        auto_renew=False,
        version=record.version,
        created_at=now,
        updated_at=now,
    )
    excluded = statement.excluded
    written = await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id"],
            set_={field: excluded[field] for field in _VERSIONED_FIELDS},
            where=SubscriptionRow.version <= excluded.version,
        ).returning(SubscriptionRow.id)
    )
    return written.scalar_one_or_none() is not None


async def _write_ledger_entry(
    session: AsyncSession, change: LedgerChange, user_id: int, subscription_id: int, *, applied: bool, now: datetime
) -> None:
    """Ledger entries are keyed by payment: a stale write adds what is missing and changes nothing
    else; the winning write also sets the period its history computed. A reversal is kept once."""
    entry = (LedgerRow.mercadopago_payment_id == change.mercadopago_payment_id, LedgerRow.user_id == user_id)
    if applied and change.reversed_at is None:
        await session.execute(
            update(LedgerRow)
            .where(*entry)
            .values(period_start=change.period_start, period_end=change.period_end)
            .execution_options(synchronize_session=False)
        )
    await insert_if_absent(
        session,
        LedgerRow,
        {
            "mercadopago_payment_id": change.mercadopago_payment_id,
            "subscription_id": subscription_id,
            "user_id": user_id,
            "plan_id": change.plan_id,
            "period_start": change.period_start,
            "period_end": change.period_end,
            "reversed_at": change.reversed_at,
            "created_at": now,
        },
        key=["mercadopago_payment_id"],
    )
    if change.reversed_at is not None:
        await session.execute(
            update(LedgerRow)
            .where(*entry, LedgerRow.reversed_at.is_(None))
            .values(reversed_at=change.reversed_at)
            .execution_options(synchronize_session=False)
        )
