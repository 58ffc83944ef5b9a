"""events.deliver: one signed POST per attempt; anything but 2xx is a (retryable) failure."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from activities.events import EventActivities
from domain.statuses import PaymentStatus as P
from events.wire import event_body
from store.models import EventRow
from tests.events.receiver import Receiver
from tests.store import builders
from workflows.event_delivery import EVENT_GONE
from workflows.event_messages import DeliverEvent, PendingQuery

SECRET = "consumer-secret"


@pytest.fixture
async def receiver():
    receiver = Receiver(SECRET, fail_first=1)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def test_a_delivery_is_the_stored_event_signed(sessions, store, receiver):
    await store.save_payment(builders.payment(P.APPROVED))
    activities = EventActivities(sessions, endpoints=[receiver.url("/hook")], secret=SECRET, timeout_seconds=2)
    [pending] = (await activities.next_for_user(PendingQuery(user_id=7))).events
    request = DeliverEvent(event_id=pending.event_id, endpoint=receiver.url("/hook"))

    with pytest.raises(ApplicationError) as failed:  # the receiver's first answer is a 500
        await activities.deliver(request)
    assert not failed.value.non_retryable and "HTTP 500" in str(failed.value)
    await activities.deliver(request)

    async with sessions() as session:
        row = await session.scalar(select(EventRow))
    [delivery] = receiver.accepted
    assert delivery.signature_ok and delivery.path == "/hook"
    assert delivery.raw == event_body(row.id, row.type, row.occurred_at, row.data)
    assert delivery.event["id"] == str(row.id) and delivery.event["type"] == "payment.approved"
    assert set(delivery.event) == {"id", "type", "occurredAt", "data"}
    assert (row.attempts, row.last_error) == (2, f"{receiver.url('/hook')}: HTTP 500")


async def test_an_endpoint_that_is_down_is_a_retryable_failure(sessions, store, receiver):
    await store.save_payment(builders.payment(P.APPROVED))
    await receiver.stop()
    activities = EventActivities(sessions, endpoints=[receiver.url()], secret=SECRET, timeout_seconds=2)
    [pending] = (await activities.next_for_user(PendingQuery(user_id=7))).events
    with pytest.raises(ApplicationError) as failed:
        await activities.deliver(DeliverEvent(event_id=pending.event_id, endpoint=receiver.url()))
    assert not failed.value.non_retryable and "ConnectError" in str(failed.value)


async def test_an_event_missing_from_the_outbox_is_not_retried(sessions):
    activities = EventActivities(sessions, endpoints=[], secret=SECRET, timeout_seconds=2)
    with pytest.raises(ApplicationError) as failed:
        await activities.deliver(DeliverEvent(event_id=12345, endpoint="http://127.0.0.1:9/"))
    assert failed.value.non_retryable and failed.value.type == EVENT_GONE
