"""Events on the real stack: every state change of the acceptance flows reaches every endpoint,
signed, in order per user, each id once after de-duplication, through a consumer that fails,
answers slowly and goes down for a while; nothing for changes that did not happen (every
MercadoPago notification here is delivered three times)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from domain.events import EventType
from events.signature import verify
from events.wire import event_body
from store.database import create_engine, create_session_factory
from store.models import utcnow
from store.outbox import record_event
from tests.e2e.purchases import (
    knobs,
    new_checkout,
    pay,
    set_payment_status,
    wait_checkout,
    wait_payment,
    wait_subscription,
)
from tests.events.receiver import Receiver
from tests.support.databases import create_postgres_database, drop_postgres_database, skip_unless_postgres, sqlite_url
from tests.support.stack import RunningStack, started_stack
from tests.support.waiting import eventually

SECRET = "events-e2e-secret"
GIVE_UP_SECONDS = 20  # well past the outage and slow answers, even on a loaded machine
OUTAGE_SECONDS = 3  # "down for a minute", shortened with the retry policy below
PLANS = Path(__file__).with_name("plans.json")
BASIC, BLINK = 1, 95  # monthly; six seconds

A, B, C, D, P, L = 71, 72, 73, 74, 75, 76  # one user per flow


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
async def world(request, tmp_path_factory):
    backend = request.param
    var_dir = tmp_path_factory.mktemp(f"events-{backend}")
    if backend == "postgresql":
        skip_unless_postgres()
        database_url = create_postgres_database()
    else:
        database_url = sqlite_url(var_dir)
    receiver = Receiver(SECRET, fail_first=3, slow=[(9, 2.5), (4, 0.4)])
    await receiver.start()
    env = {
        "EVENT_WEBHOOK_URLS": f"{receiver.url('/a')},{receiver.url('/b')}",
        "EVENT_WEBHOOK_SECRET": SECRET,
        "EVENT_RETRY_INITIAL_INTERVAL": "PT0.2S",
        "EVENT_RETRY_MAX_INTERVAL": "PT1S",
        "EVENT_DELIVERY_TIMEOUT_SECONDS": "1.5",  # the 2.5 s answers time out: sent again
        "EVENT_DELIVERY_GIVE_UP_AFTER": f"PT{GIVE_UP_SECONDS}S",
        "EVENT_SWEEP_INTERVAL": "PT2S",
        "RENEWAL_REMINDER_LEAD": "PT3S",
        "PLANS_FILE": str(PLANS),
    }
    stack = await asyncio.to_thread(started_stack, var_dir, database_url, env)
    try:
        yield RunningStack(stack, backend), receiver
    finally:
        await asyncio.to_thread(stack.stop)
        await receiver.stop()
        if backend == "postgresql":
            drop_postgres_database(database_url)


def admin(stack):
    return stack.api(1, roles=("admin",))


async def events_of(stack, user_id: int) -> list[dict]:
    async with admin(stack) as api:
        answer = await api.get("/api/events", params={"userId": user_id, "limit": 1000})
    answer.raise_for_status()
    return answer.json()


async def wait_types(stack, user_id: int, expected: list[str], timeout: float = 30) -> list[dict]:
    async def probe():
        found = await events_of(stack, user_id)
        return found if [e["type"] for e in found] == expected else None

    return await eventually(probe, timeout=timeout, interval=0.25, what=f"user {user_id}'s events {expected}")


# --- the flows (each its own user) ---------------------------------------------------------


async def approve_extend_cancel(stack) -> list[str]:
    first = await pay(stack, (await new_checkout(stack, A, BASIC))["preferenceId"])
    active = await wait_subscription(stack, A, "ACTIVE")
    await pay(stack, (await new_checkout(stack, A, BASIC))["preferenceId"])
    await wait_subscription(stack, A, "ACTIVE", where=lambda s: s["endDate"] > active["endDate"])
    async with stack.api(A) as api:
        cancelled = await api.post(f"/api/subscriptions/{active['subscriptionId']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert first["id"]
    return [
        "payment.approved",
        "subscription.activated",
        "payment.approved",
        "subscription.extended",
        "subscription.cancelled",
    ]


async def approve_refund(stack) -> list[str]:
    checkout = await new_checkout(stack, B, BASIC)
    payment = await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, B, "ACTIVE")
    await wait_payment(stack, B, payment["id"], "APPROVED")
    await set_payment_status(stack, payment["id"], "refunded")
    await wait_payment(stack, B, payment["id"], "REFUNDED")
    await wait_subscription(stack, B, "EXPIRED")
    return ["payment.approved", "subscription.activated", "payment.refunded", "subscription.revoked"]


async def approve_remind_expire(stack) -> list[str]:
    await pay(stack, (await new_checkout(stack, C, BLINK))["preferenceId"])
    await wait_subscription(stack, C, "ACTIVE")
    await wait_subscription(stack, C, "EXPIRED", timeout=30)
    return ["payment.approved", "subscription.activated", "subscription.renewal_due", "subscription.expired"]


async def checkout_never_paid(stack) -> list[str]:
    checkout = await new_checkout(stack, D, BASIC)
    await wait_checkout(stack, D, checkout["checkoutId"], "EXPIRED", timeout=40)
    return ["checkout.expired"]


async def parked_then_redelivered(stack, receiver: Receiver) -> list[str]:
    """A consumer refusing one user's events for longer than the retry window."""
    receiver.refuse_users.add(P)
    await pay(stack, (await new_checkout(stack, P, BASIC))["preferenceId"])
    await wait_subscription(stack, P, "ACTIVE")

    async def parked():
        found = await events_of(stack, P)
        return found if [e["deliveryStatus"] for e in found] == ["PARKED", "PENDING"] else None

    first, second = await eventually(parked, timeout=GIVE_UP_SECONDS + 25, interval=0.5, what="first event PARKED")
    assert first["type"] == "payment.approved" and first["lastError"].startswith("gave up")
    assert first["attempts"] >= 2 and second["attempts"] == 0  # the later event waited behind it
    assert not [d for d in receiver.accepted if d.event["data"]["userId"] == P]

    receiver.refuse_users.discard(P)
    async with admin(stack) as api:
        answer = await api.post("/api/events/redeliver-parked")
    assert answer.status_code == 202, answer.text
    assert answer.json()["redelivered"] >= 1
    return ["payment.approved", "subscription.activated"]


async def kick_lost(stack) -> list[str]:
    """An event recorded without its kick (say the worker died right after the commit): the sweep sends it."""
    engine = create_engine(stack.config.database)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await record_event(
                session,
                key=f"test:lost-kick:{L}",
                type=EventType.SUBSCRIPTION_RENEWAL_DUE,
                user_id=L,
                occurred_at=utcnow(),
                data={"userId": L},
            )
    finally:
        await engine.dispose()
    return ["subscription.renewal_due"]


async def outage(receiver: Receiver) -> None:
    await eventually(lambda: _some(receiver), timeout=30, what="first deliveries")
    await receiver.stop()
    await asyncio.sleep(OUTAGE_SECONDS)  # the scenario: the consumer is down this long
    await receiver.start()


async def _some(receiver: Receiver) -> bool:
    return len(receiver.accepted) >= 2


# --- the tests -------------------------------------------------------------------------------


async def test_every_change_reaches_every_endpoint_in_order_once(world):
    stack, receiver = world
    await knobs(stack, duplicates=2)  # every notification from MercadoPago arrives three times
    outage_task = asyncio.create_task(outage(receiver))
    try:
        flows = dict(
            zip(
                (A, B, C, D, P, L),
                await asyncio.gather(
                    approve_extend_cancel(stack),
                    approve_refund(stack),
                    approve_remind_expire(stack),
                    checkout_never_paid(stack),
                    parked_then_redelivered(stack, receiver),
                    kick_lost(stack),
                ),
                strict=True,
            )
        )
        await outage_task
    finally:
        outage_task.cancel()
        await knobs(stack, duplicates=0)

    for user_id, expected in flows.items():
        stored = await wait_types(stack, user_id, expected)

        async def delivered(user_id=user_id):
            found = await events_of(stack, user_id)
            return found if all(e["deliveryStatus"] == "DELIVERED" for e in found) else None

        stored = await eventually(delivered, timeout=40, interval=0.25, what=f"user {user_id}'s events delivered")
        ids = [e["id"] for e in stored]
        assert ids == sorted(ids, key=int), "the pull API lists in id order"
        for path in ("/a", "/b"):
            got = [e for e in receiver.received(path) if e["data"]["userId"] == user_id]
            assert [e["id"] for e in got] == ids, f"user {user_id} at {path}: in order, none lost, none extra"
            assert got == [{k: e[k] for k in ("id", "type", "occurredAt", "data")} for e in stored]

    assert receiver.refused == 0
    for delivery in receiver.accepted:  # byte for byte what the consumer's helper verifies
        verify(SECRET, delivery.raw, delivery.header, tolerance_seconds=300)
    everything = [e for user_id in flows for e in await events_of(stack, user_id)]
    assert sum(e["attempts"] for e in everything) > 2 * len(everything), "failures were retried"
    duplicates = len(receiver.accepted) - len(receiver.received("/a")) - len(receiver.received("/b"))
    assert duplicates >= 1, "a late answer made the consumer see an event twice"

    approved = next(e for e in await events_of(stack, B) if e["type"] == "payment.approved")
    assert isinstance(approved["data"]["mercadopagoPaymentId"], str) and approved["data"]["amount"] == "9.99"
    async with stack.sandbox() as sandbox:
        seen = (
            await sandbox.get(
                "/sandbox/deliveries",
                params={"payment_id": int(approved["data"]["mercadopagoPaymentId"]), "kind": "webhook"},
            )
        ).json()
    assert len([d for d in seen if d["action"] == "payment.created"]) >= 3  # duplicates did arrive


async def test_the_pull_api_pages_by_id_and_is_for_admins(world):
    stack, receiver = world
    async with admin(stack) as api:
        everything = (await api.get("/api/events", params={"limit": 1000})).json()
        assert len(everything) >= 3
        first_two = (await api.get("/api/events", params={"limit": 2})).json()
        rest = (await api.get("/api/events", params={"after": first_two[-1]["id"], "limit": 1000})).json()
        assert first_two + rest == everything
        only = (await api.get("/api/events", params={"type": "checkout.expired"})).json()
        assert [e["type"] for e in only] == ["checkout.expired"]
        assert (await api.get("/api/events", params={"after": "x"})).status_code == 422
        missing = await api.post("/api/events/999999/redeliver")
        assert missing.status_code == 404 and missing.json()["error"] == "event_not_found"
    async with stack.api(A) as api:
        refused = await api.get("/api/events")
        assert refused.status_code == 403 and set(refused.json()) == {"error", "message"}
        assert (await api.post("/api/events/redeliver-parked")).status_code == 403
    async with stack.api(None) as api:
        assert (await api.get("/api/events")).status_code == 401


async def test_redelivering_an_event_sends_the_same_id_and_body(world):
    stack, receiver = world
    [event] = await events_of(stack, D)
    before = len(receiver.accepted)
    async with admin(stack) as api:
        answer = await api.post(f"/api/events/{event['id']}/redeliver")
    assert answer.status_code == 202 and answer.json()["deliveryStatus"] == "PENDING"

    async def sent_again():
        again = [d for d in receiver.accepted[before:] if d.event["id"] == event["id"]]
        return again if {d.path for d in again} == {"/a", "/b"} else None

    again = await eventually(sent_again, timeout=20, what="the event delivered again")
    body = event_body(event["id"], event["type"], _parse(event["occurredAt"]), event["data"])
    assert all(d.raw == body for d in again)
    await eventually(lambda: _status(stack, D, "DELIVERED"), timeout=20, what="DELIVERED again")


async def _status(stack, user_id, status):
    return all(e["deliveryStatus"] == status for e in await events_of(stack, user_id))


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
