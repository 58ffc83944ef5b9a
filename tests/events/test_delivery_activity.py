"""events.deliver: one signed POST per attempt; anything but 2xx is a (retryable) failure."""

from __future__ import annotations

import asyncio
import time

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
    assert (row.attempts, row.last_error) == (2, "endpoint 1 (127.0.0.1): HTTP 500")


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


# --- what a failure records, and what a consumer's answer may cost -----------------------------

TOKEN = "s3cr3t-consumer-token"


async def test_a_failure_records_the_endpoint_by_position_and_host_only(sessions, store, receiver):
    await store.save_payment(builders.payment(P.APPROVED))
    endpoint = receiver.url(f"/hooks/{TOKEN}?key={TOKEN}")
    activities = EventActivities(
        sessions, endpoints=["https://other.example/x", endpoint], secret=SECRET, timeout_seconds=2
    )
    [pending] = (await activities.next_for_user(PendingQuery(user_id=7))).events
    request = DeliverEvent(event_id=pending.event_id, endpoint=endpoint)
    with pytest.raises(ApplicationError) as answered_500:  # the receiver's first answer is a 500
        await activities.deliver(request)
    async with sessions() as session:
        after_500 = (await session.scalar(select(EventRow))).last_error
    await receiver.stop()
    with pytest.raises(ApplicationError) as refused:
        await activities.deliver(request)
    async with sessions() as session:
        after_refusal = (await session.scalar(select(EventRow))).last_error

    assert after_500 == "endpoint 2 (127.0.0.1): HTTP 500"
    assert after_refusal == "endpoint 2 (127.0.0.1): ConnectError"
    # the failure's message travels into the workflow's history and the parked event's reason
    for text in (after_500, after_refusal, str(answered_500.value), str(refused.value)):
        assert TOKEN not in text and "/hooks" not in text


@pytest.fixture
async def endless_consumer():
    """A consumer that answers 200 and then streams its body without end."""
    sent = {"bytes": 0}

    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
            chunk = b"x" * 65536
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent["bytes"] += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/endless", sent
    finally:
        server.close()


async def test_a_consumer_answering_without_end_is_read_only_a_little(sessions, store, endless_consumer):
    endpoint, sent = endless_consumer
    await store.save_payment(builders.payment(P.APPROVED))
    activities = EventActivities(sessions, endpoints=[endpoint], secret=SECRET, timeout_seconds=5)
    [pending] = (await activities.next_for_user(PendingQuery(user_id=7))).events
    started = time.monotonic()
    await asyncio.wait_for(activities.deliver(DeliverEvent(event_id=pending.event_id, endpoint=endpoint)), 10)
    assert time.monotonic() - started < 3  # the 200 counted at once, the body was not waited for
    assert sent["bytes"] < 16 * 1024 * 1024  # what the consumer managed to push before we hung up
    async with sessions() as session:
        row = await session.scalar(select(EventRow))
    assert (row.attempts, row.last_error) == (1, None)
