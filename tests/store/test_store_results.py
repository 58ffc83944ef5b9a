"""What each write of store/ answers: what it did, so that its caller notifies from that alone."""

from __future__ import annotations

from datetime import timedelta

from domain.statuses import CheckoutStatus as C
from domain.statuses import PaymentStatus as P
from store import checkouts, payments, subscriptions
from store.audit import append_audit
from store.checkouts import CheckoutSaved
from store.payments import PaymentSaved
from store.records import AuditRecord
from store.subscriptions import SubscriptionSaved

from . import builders

NOW = builders.T0 + timedelta(days=2)


async def committed(sessions, write):
    async with sessions() as session, session.begin():
        return await write(session)


async def save_checkout(sessions, record) -> CheckoutSaved:
    return await committed(sessions, lambda session: checkouts.save_checkout(session, record=record, now=NOW))


async def save_payment(sessions, record) -> PaymentSaved:
    return await committed(sessions, lambda session: payments.save_payment(session, record=record, now=NOW))


async def save_subscription(sessions, record) -> SubscriptionSaved:
    return await committed(sessions, lambda session: subscriptions.save_subscription(session, record=record, now=NOW))


def audit(key: str) -> AuditRecord:
    return AuditRecord(dedup_key=key, actor="subscription/7", action="subscription.activated", user_id=7)


async def test_a_checkout_says_whether_it_was_created_moved_or_left_alone(sessions):
    created = await save_checkout(sessions, builders.checkout(C.AWAITING_PAYMENT))
    assert created == CheckoutSaved(status=C.AWAITING_PAYMENT, previous=None, event_user=None)
    assert not created.moved

    rejected = await save_checkout(sessions, builders.checkout(C.REJECTED))
    assert rejected == CheckoutSaved(status=C.REJECTED, previous=C.AWAITING_PAYMENT, event_user=None)
    assert rejected.moved

    expired = await save_checkout(sessions, builders.checkout(C.EXPIRED))
    assert expired == CheckoutSaved(status=C.EXPIRED, previous=C.REJECTED, event_user=7)

    stale = await save_checkout(sessions, builders.checkout(C.PAYMENT_PENDING))
    assert stale == CheckoutSaved(status=C.EXPIRED, previous=C.EXPIRED, event_user=None)
    assert not stale.moved

    completed = await save_checkout(sessions, builders.checkout(C.COMPLETED))
    assert (completed.status, completed.moved) == (C.COMPLETED, True)
    assert not (await save_checkout(sessions, builders.checkout(C.COMPLETED))).moved


async def test_a_checkout_created_expired_records_its_event(sessions):
    saved = await save_checkout(sessions, builders.checkout(C.EXPIRED))
    assert saved == CheckoutSaved(status=C.EXPIRED, previous=None, event_user=7)


async def test_a_payment_says_what_its_status_was_and_whose_event_it_recorded(sessions):
    pending = await save_payment(sessions, builders.payment(P.PENDING))
    assert (pending.status, pending.previous, pending.changed, pending.event_user) == (P.PENDING, None, True, None)

    approved = await save_payment(sessions, builders.payment(P.APPROVED))
    assert approved == PaymentSaved(payment_id=pending.payment_id, status=P.APPROVED, previous=P.PENDING, event_user=7)
    assert approved.changed

    late = await save_payment(sessions, builders.payment(P.PENDING))
    assert late == PaymentSaved(payment_id=pending.payment_id, status=P.APPROVED, previous=P.APPROVED, event_user=None)
    assert not late.changed


async def test_a_payment_of_no_user_of_ours_records_no_event(sessions):
    saved = await save_payment(sessions, builders.payment(P.APPROVED, mp_id="foreign", user_id=None, plan_id=None))
    assert (saved.changed, saved.event_user) == (True, None)


async def test_a_rolled_back_attempt_leaves_nothing_the_next_one_would_misreport(sessions):
    async with sessions() as session:  # a transaction that fails after the write: rolled back
        first = await payments.save_payment(session, record=builders.payment(P.APPROVED), now=NOW)
        await session.rollback()
    assert first.event_user == 7

    again = await save_payment(sessions, builders.payment(P.APPROVED))
    assert (again.previous, again.event_user) == (None, 7)  # the attempt that commits says what it did


async def test_a_subscription_says_whether_it_applied_emitted_and_audited(sessions):
    activated = builders.subscription(1).model_copy(
        update={"event": "subscription.activated", "audit": audit("subscription:7:v1")}
    )
    first = await save_subscription(sessions, activated)
    assert first == SubscriptionSaved(
        subscription_id=first.subscription_id, applied=True, event_user=7, audited=activated.audit
    )

    # the same version again (a rerun) is written, but its event and audit entry exist already
    rerun = await save_subscription(sessions, activated)
    assert rerun == SubscriptionSaved(
        subscription_id=first.subscription_id, applied=True, event_user=None, audited=None
    )

    newer = await save_subscription(sessions, builders.subscription(3))
    stale = builders.subscription(2).model_copy(
        update={"event": "subscription.extended", "audit": audit("subscription:7:v2")}
    )
    # a stale version changes nothing and emits nothing; its audit entry is still kept
    assert await save_subscription(sessions, stale) == SubscriptionSaved(
        subscription_id=newer.subscription_id, applied=False, event_user=None, audited=stale.audit
    )


async def test_an_audit_entry_is_new_once(sessions):
    record = audit("checkout:chk-1:created")
    assert await committed(sessions, lambda session: append_audit(session, record=record, occurred_at=NOW))
    assert not await committed(sessions, lambda session: append_audit(session, record=record, occurred_at=NOW))
