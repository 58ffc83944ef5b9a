"""Checkouts in the read model: one row per checkout id, its status only moving forward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.statuses import CheckoutStatus
from store import emitters
from store.checkout_progress import advance_checkout
from store.details import merge_details
from store.models import CheckoutRow
from store.records import CheckoutRecord, CheckoutRef
from store.upsert import insert_if_absent

_DETAILS = ("preference_id", "init_point", "sandbox_init_point", "mercadopago_payment_id")


@dataclass(frozen=True)
class CheckoutSaved:
    status: CheckoutStatus  # what the row holds now
    previous: CheckoutStatus | None  # what it held before; None when this write created it
    event_user: int | None  # whose new event (checkout.expired) awaits delivery, if one was recorded

    @property
    def moved(self) -> bool:
        """An existing checkout changed status (a retry finds it moved already: False)."""
        return self.previous is not None and self.status != self.previous


async def save_checkout(session: AsyncSession, *, record: CheckoutRecord, now: datetime) -> CheckoutSaved:
    details = {field: getattr(record, field) for field in _DETAILS}
    # the insert comes first: it takes the write lock (SQLite) before anything is read
    inserted = await insert_if_absent(
        session,
        CheckoutRow,
        {
            "checkout_id": record.checkout_id,
            "external_reference": record.external_reference,
            "user_id": record.user_id,
            "plan_id": record.plan_id,
            "amount": record.amount,
            "currency": record.currency,
            "status": record.status.value,
            "created_at": record.created_at,
            "updated_at": now,
            **details,
        },
        key=["checkout_id"],
    )
    if inserted is not None:
        event_user = None
        if record.status == CheckoutStatus.EXPIRED:
            created = await session.get(CheckoutRow, record.checkout_id)
            assert created is not None  # inserted just now, in this transaction
            event_user = await emitters.checkout_status_changed(session, created, None, now)
        return CheckoutSaved(status=record.status, previous=None, event_user=event_user)

    row = await session.scalar(
        select(CheckoutRow).where(CheckoutRow.checkout_id == record.checkout_id).with_for_update()
    )
    assert row is not None  # the insert above found it there
    previous = CheckoutStatus(row.status)
    status = advance_checkout(previous, record.status)
    merge_details(row, details, stale=status != record.status)
    row.status = status.value
    row.updated_at = now
    await session.flush()
    event_user = await emitters.checkout_status_changed(session, row, previous, now)
    return CheckoutSaved(status=status, previous=previous, event_user=event_user)


async def find_checkout(session: AsyncSession, *, external_reference: str) -> CheckoutRef | None:
    row = await session.scalar(select(CheckoutRow).where(CheckoutRow.external_reference == external_reference))
    if row is None:
        return None
    return CheckoutRef(checkout_id=row.checkout_id, user_id=row.user_id, plan_id=row.plan_id)
