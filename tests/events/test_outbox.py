"""The outbox is written with the change it describes: one event per real change, none for
repeats, stale writes or duplicates; ids grow in commit order; delivery bookkeeping."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from activities.store import StoreActivities
from domain.events import DeliveryStatus
from domain.statuses import CheckoutStatus as C
from domain.statuses import PaymentStatus as P
from domain.statuses import SubscriptionStatus as S
from store import outbox
from store.models import EventRow
from tests.store import builders


async def events(sessions) -> list[EventRow]:
    async with sessions() as session:
        return list(await session.scalars(select(EventRow).order_by(EventRow.id)))


def recording_store(sessions) -> tuple[StoreActivities, list[set[int]]]:
    kicked: list[set[int]] = []

    async def on_events(users: set[int]) -> None:
        kicked.append(users)

    return StoreActivities(sessions, on_events=on_events), kicked


async def test_an_approved_payment_emits_one_event_whatever_is_redelivered(sessions):
    store, kicked = recording_store(sessions)
    await store.save_payment(builders.payment(P.PENDING))
    assert await events(sessions) == [] and kicked == []

    stored = await store.save_payment(builders.payment(P.APPROVED))
    await store.save_payment(builders.payment(P.APPROVED))  # a duplicate notification
    await store.save_payment(builders.payment(P.PENDING))  # a late, stale one

    [event] = await events(sessions)
    assert (event.type, event.user_id, event.delivery_status, event.attempts) == ("payment.approved", 7, "PENDING", 0)
    assert event.data == {
        "userId": 7,
        "planId": 2,
        "paymentId": stored.payment_id,
        "mercadopagoPaymentId": "1319000001",
        "status": "APPROVED",
        "amount": "19.99",
        "amountRefunded": "0.00",
        "currency": "ARS",
        "externalReference": "PLAN-2-USER-7-0a1b2c3d",
        "approvedAt": "2026-01-15T12:01:00Z",
    }
    assert event.occurred_at.tzinfo is not None
    assert kicked == [{7}]


async def test_refund_and_charge_back_are_events_of_their_own(sessions, store):
    await store.save_payment(builders.payment(P.APPROVED))
    await store.save_payment(builders.payment(P.REFUNDED, amount_refunded=builders.payment().payment.amount))
    await store.save_payment(builders.payment(P.REFUNDED))
    await store.save_payment(builders.payment(P.CHARGED_BACK))
    await store.save_payment(builders.payment(P.APPROVED))  # stale: changes nothing

    found = await events(sessions)
    assert [e.type for e in found] == ["payment.approved", "payment.refunded", "payment.charged_back"]
    assert found[1].data["amountRefunded"] == "19.99"
    assert [e.id for e in found] == sorted(e.id for e in found)


async def test_a_payment_first_seen_refunded_emits_only_the_refund(sessions, store):
    await store.save_payment(builders.payment(P.REFUNDED, mp_id="9"))
    assert [e.type for e in await events(sessions)] == ["payment.refunded"]


async def test_statuses_other_systems_do_not_hear_about_emit_nothing(sessions, store):
    for status in (P.PENDING, P.REJECTED, P.CANCELLED):
        await store.save_payment(builders.payment(status, mp_id=f"x-{status}"))
    await store.save_payment(builders.payment(P.APPROVED, mp_id="foreign", user_id=None, plan_id=None))
    assert await events(sessions) == []


async def test_a_checkout_emits_checkout_expired_once(sessions, store):
    await store.save_checkout(builders.checkout(C.AWAITING_PAYMENT))
    await store.save_checkout(builders.checkout(C.REJECTED))
    await store.save_checkout(builders.checkout(C.EXPIRED))
    await store.save_checkout(builders.checkout(C.EXPIRED))
    await store.save_checkout(
        builders.checkout(C.COMPLETED, checkout_id="chk-2", external_reference="PLAN-2-USER-7-ffffffff")
    )

    [event] = await events(sessions)
    assert event.type == "checkout.expired"
    assert event.data == {
        "userId": 7,
        "planId": 2,
        "checkoutId": "chk-1",
        "externalReference": "PLAN-2-USER-7-0a1b2c3d",
        "preferenceId": None,
        "amount": "19.99",
        "currency": "ARS",
        "createdAt": "2026-01-15T12:00:00Z",
    }


def named(record, event: str, **detail):
    return record.model_copy(update={"event": event, "event_detail": detail})


async def test_a_subscription_change_emits_the_event_it_names_once(sessions):
    store, kicked = recording_store(sessions)
    activated = named(
        builders.subscription(1, ledger_changes=(builders.ledger("p1"),)),
        "subscription.activated",
        mercadopagoPaymentId="p1",
        amount="19.99",
        currency="ARS",
    )
    subscription_id = await store.save_subscription(activated)
    await store.save_subscription(activated)  # a retried activity
    await store.save_subscription(named(builders.subscription(2, days=60), "subscription.extended"))
    await store.save_subscription(named(builders.subscription(1, S.EXPIRED), "subscription.expired"))  # stale

    found = await events(sessions)
    assert [e.type for e in found] == ["subscription.activated", "subscription.extended"]
    assert found[0].data == {
        "userId": 7,
        "planId": 2,
        "subscriptionId": subscription_id,
        "status": "ACTIVE",
        "startDate": "2026-01-15T12:00:00Z",
        "endDate": "2026-02-14T12:00:00Z",
        "mercadopagoPaymentId": "p1",
        "amount": "19.99",
        "currency": "ARS",
    }
    assert found[1].data["endDate"] == "2026-03-16T12:00:00Z"
    assert kicked == [{7}, {7}]


async def test_a_subscription_write_without_an_event_emits_none(sessions, store):
    await store.save_subscription(builders.subscription(1))
    assert await events(sessions) == []


async def test_concurrent_writers_get_distinct_increasing_ids(sessions, store):
    await asyncio.gather(
        *(store.save_payment(builders.payment(P.APPROVED, mp_id=f"c{i}", user_id=i % 3 + 1)) for i in range(12))
    )
    found = await events(sessions)
    assert len(found) == 12 and len({e.id for e in found}) == 12


async def test_delivery_bookkeeping_and_parked_users(sessions, store):
    for i, user in enumerate((1, 1, 2, 3)):
        await store.save_payment(builders.payment(P.APPROVED, mp_id=f"d{i}", user_id=user))
    first, second, third, fourth = await events(sessions)
    async with sessions() as session, session.begin():
        await outbox.set_delivery(session, first.id, DeliveryStatus.DELIVERED, delivered_at=first.occurred_at)
        await outbox.set_delivery(session, third.id, DeliveryStatus.PARKED, error="gave up: HTTP 500")
        await outbox.count_attempt(session, fourth.id, "http://x: HTTP 503")
    async with sessions() as session:
        assert [e.id for e in await outbox.undelivered_for_user(session, 1, 10)] == [second.id]
        assert [e.id for e in await outbox.undelivered_for_user(session, 2, 10)] == [third.id]
        # user 2 is blocked by its parked event: the sweep leaves it alone
        assert await outbox.users_with_pending(session, 10) == [1, 3]
    after = {e.id: e for e in await events(sessions)}
    assert after[fourth.id].attempts == 1 and after[fourth.id].last_error == "http://x: HTTP 503"
    assert after[first.id].delivered_at is not None and after[third.id].last_error == "gave up: HTTP 500"


async def test_an_attempt_that_ends_after_its_event_was_parked_leaves_the_reason(sessions, store):
    # a delivery attempt can outlive the workflow's give-up: its late report must not hide why
    await store.save_payment(builders.payment(P.APPROVED))
    [event] = await events(sessions)
    async with sessions() as session, session.begin():
        await outbox.set_delivery(session, event.id, DeliveryStatus.PARKED, error="gave up: HTTP 503")
        await outbox.count_attempt(session, event.id, "endpoint 1 (127.0.0.1): HTTP 503")
    [after] = await events(sessions)
    assert (after.delivery_status, after.last_error) == ("PARKED", "gave up: HTTP 503")


async def test_occurred_at_is_when_the_change_was_recorded(sessions, store):
    await store.save_payment(builders.payment(P.APPROVED))
    [event] = await events(sessions)
    assert event.occurred_at - builders.T0 > timedelta(days=1)  # now, not MercadoPago's approval time


async def test_an_unknown_subscription_event_name_still_saves_the_change(sessions, store):
    await store.save_subscription(named(builders.subscription(1), "subscription.teleported"))
    assert await events(sessions) == []
