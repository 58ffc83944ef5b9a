"""Payments in the read model: one row per MercadoPago payment id, statuses merged monotonically
(a late "pending" never overwrites "approved"; refunded and charged-back always win)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.statuses import PaymentStatus, merge_status
from store import emitters
from store.details import merge_details
from store.models import PaymentRow
from store.records import PaymentRecord
from store.upsert import insert_if_absent

_DETAILS = ("amount", "currency", "status_detail", "external_reference", "payment_method", "payment_type")


@dataclass(frozen=True)
class PaymentSaved:
    payment_id: int  # our id of the payment
    status: PaymentStatus  # after the monotonic merge
    previous: PaymentStatus | None  # before this write; None when this write created the row
    event_user: int | None  # whose new payment.* event awaits delivery, if one was recorded

    @property
    def changed(self) -> bool:
        return self.previous is None or self.status != self.previous


async def save_payment(session: AsyncSession, *, record: PaymentRecord, now: datetime) -> PaymentSaved:
    payment = record.payment
    details = {field: getattr(payment, field) for field in _DETAILS}
    people = {"user_id": record.user_id, "plan_id": record.plan_id}
    new_id = await insert_if_absent(
        session,
        PaymentRow,
        {
            "mercadopago_payment_id": payment.mercadopago_payment_id,
            "status": payment.status.value,
            "amount_refunded": payment.amount_refunded,
            "created_at": payment.created_at,
            "approved_at": payment.approved_at,
            "updated_at": now,
            **details,
            **people,
        },
        key=["mercadopago_payment_id"],
    )
    if new_id is not None:
        created = await session.get(PaymentRow, new_id)
        assert created is not None  # inserted just now, in this transaction
        event_user = await emitters.payment_status_changed(session, created, None, now)
        return PaymentSaved(payment_id=new_id, status=payment.status, previous=None, event_user=event_user)

    # FOR UPDATE: concurrent observations of one payment merge one after the other
    # (PostgreSQL; SQLite already holds the database's write lock since the insert)
    row = await session.scalar(
        select(PaymentRow).where(PaymentRow.mercadopago_payment_id == payment.mercadopago_payment_id).with_for_update()
    )
    assert row is not None  # the insert above found it there
    previous = PaymentStatus(row.status)
    status = merge_status(previous, payment.status)
    merge_details(row, details, stale=status != payment.status)
    merge_details(row, people, stale=True)  # who paid for what never changes
    row.status = status.value
    row.amount_refunded = max(row.amount_refunded, payment.amount_refunded)
    row.approved_at = row.approved_at or payment.approved_at
    row.updated_at = now
    await session.flush()
    event_user = await emitters.payment_status_changed(session, row, previous, now)
    return PaymentSaved(payment_id=row.id, status=status, previous=previous, event_user=event_user)


async def payment_statuses(session: AsyncSession, *, mercadopago_payment_ids: list[str]) -> dict[str, PaymentStatus]:
    """What the read model holds for these payments (absent ids are missing from it)."""
    if not mercadopago_payment_ids:
        return {}
    rows = await session.execute(
        select(PaymentRow.mercadopago_payment_id, PaymentRow.status).where(
            PaymentRow.mercadopago_payment_id.in_(mercadopago_payment_ids)
        )
    )
    return {payment_id: PaymentStatus(status) for payment_id, status in rows}
