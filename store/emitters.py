"""The events a read-model write emits, decided from what the write actually changed.

Called inside the write's transaction, after the change and last (see store.outbox): a
payment reaching approved/refunded/charged-back, a checkout becoming EXPIRED, and the
subscription change a SubscriptionWorkflow names. Each returns the user to kick, or None when
nothing was emitted (no change, a repeat, or a payment that belongs to no user of ours).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import (
    PAYMENT_EVENTS,
    SUBSCRIPTION_EVENTS,
    EventType,
    checkout_event_key,
    payment_event_key,
    subscription_event_key,
    wire_money,
    wire_time,
)
from domain.statuses import CheckoutStatus, PaymentStatus
from store.models import CheckoutRow, PaymentRow
from store.outbox import record_event
from store.records import SubscriptionRecord

log = logging.getLogger("paysaga.events")


async def payment_status_changed(
    session: AsyncSession, row: PaymentRow, previous: PaymentStatus | None, now: datetime
) -> int | None:
    status = PaymentStatus(row.status)
    event = PAYMENT_EVENTS.get(status)
    if event is None or status == previous or row.user_id is None:
        return None
    data = {
        "userId": row.user_id,
        "planId": row.plan_id,
        "paymentId": row.id,
        "mercadopagoPaymentId": str(row.mercadopago_payment_id),
        "status": status.value,
        "amount": wire_money(row.amount),
        "amountRefunded": wire_money(row.amount_refunded),
        "currency": row.currency,
        "externalReference": row.external_reference,
        "approvedAt": wire_time(row.approved_at),
    }
    emitted = await record_event(
        session,
        key=payment_event_key(event, row.mercadopago_payment_id),
        type=event,
        user_id=row.user_id,
        occurred_at=now,
        data=data,
    )
    return row.user_id if emitted is not None else None


async def checkout_status_changed(
    session: AsyncSession, row: CheckoutRow, previous: CheckoutStatus | None, now: datetime
) -> int | None:
    if row.status != CheckoutStatus.EXPIRED.value or previous == CheckoutStatus.EXPIRED:
        return None
    data = {
        "userId": row.user_id,
        "planId": row.plan_id,
        "checkoutId": row.checkout_id,
        "externalReference": row.external_reference,
        "preferenceId": row.preference_id,
        "amount": wire_money(row.amount),
        "currency": row.currency,
        "createdAt": wire_time(row.created_at),
    }
    key = checkout_event_key(EventType.CHECKOUT_EXPIRED, row.checkout_id)
    emitted = await record_event(
        session, key=key, type=EventType.CHECKOUT_EXPIRED, user_id=row.user_id, occurred_at=now, data=data
    )
    return row.user_id if emitted is not None else None


async def subscription_changed(
    session: AsyncSession, record: SubscriptionRecord, subscription_id: int, now: datetime
) -> int | None:
    """Only for a write that was applied (not a stale or retried version)."""
    if record.event is None:
        return None
    if record.event not in SUBSCRIPTION_EVENTS:
        # a workflow naming something other systems are not told about: the change still commits
        log.warning("not an event other systems are told about: %r (user %s)", record.event, record.user_id)
        return None
    event = EventType(record.event)
    data = {
        "userId": record.user_id,
        "planId": record.plan_id,
        "subscriptionId": subscription_id,
        "status": record.status.value,
        "startDate": wire_time(record.start_date),
        "endDate": wire_time(record.end_date),
        **record.event_detail,
    }
    key = subscription_event_key(event, record.user_id, record.version)
    emitted = await record_event(session, key=key, type=event, user_id=record.user_id, occurred_at=now, data=data)
    return record.user_id if emitted is not None else None
