"""The MercadoPago webhook: verify, relay to Temporal (signal-with-start), answer within 2 s."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from temporalio.service import RPCError, RPCStatusCode

from api.routers import webhooks
from store.models import WebhookEventRow
from tests.api.helpers import WEBHOOK_SECRET, serve, signed_webhook
from tests.support.waiting import eventually

ANSWER_WITHIN = 2.0


@pytest.fixture
def live_settings(make_settings, temporal_env):
    def make(**overrides):
        return make_settings(temporal_address=temporal_env.client.service_client.config.target_host, **overrides)

    return make


async def _exists(temporal_env, workflow_id: str) -> bool:
    try:
        await temporal_env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND
        return False
    return True


async def _inbox(db, expected: int) -> list[WebhookEventRow]:
    """Inbox rows once `expected` of them are there (the record is written best-effort, async)."""

    async def rows() -> list[WebhookEventRow]:
        async with db() as session:
            found = (await session.scalars(select(WebhookEventRow).order_by(WebhookEventRow.id))).all()
        return list(found) if len(found) >= expected else []

    return await eventually(rows, timeout=5.0, interval=0.05, what=f"{expected} inbox row(s)")


async def test_signed_payment_webhook_is_relayed(live_settings, temporal_env, db):
    settings = live_settings()
    webhook = signed_webhook("5100000001")
    async with serve(settings) as client:
        response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["paymentId"] == "5100000001"
    assert response.json()["message"]

    description = await temporal_env.client.get_workflow_handle("payment-5100000001").describe()
    assert description.workflow_type == "PaymentWorkflow"
    assert description.task_queue == settings.temporal_task_queue

    [row] = await _inbox(db, 1)
    assert (row.topic, row.action, row.resource_id) == ("payment", "payment.updated", "5100000001")
    assert row.request_id == webhook.headers["x-request-id"]
    assert row.signature_valid and row.outcome == "accepted"
    stored = " ".join(str(value) for value in (row.topic, row.action, row.resource_id, row.request_id, row.detail))
    assert WEBHOOK_SECRET not in stored and webhook.headers["x-signature"].split("v1=")[1] not in stored


async def test_duplicate_deliveries_land_on_one_workflow(live_settings, temporal_env):
    settings = live_settings()
    async with serve(settings) as client:
        for action in ("payment.created", "payment.updated", "payment.updated"):
            webhook = signed_webhook("5100000002", action=action)
            response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
            assert response.status_code == 200
    handle = temporal_env.client.get_workflow_handle("payment-5100000002")
    signals = [
        event
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    started = [
        event
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_started_event_attributes")
    ]
    assert len(started) == 1 and len(signals) == 3


async def test_concurrent_duplicates_share_signals_and_all_are_accepted(live_settings, temporal_env, db):
    deliveries = 20
    async with serve(live_settings()) as client:
        webhooks_ = [signed_webhook("5100000003") for _ in range(deliveries)]
        responses = await asyncio.gather(*(client.post(w.url, headers=w.headers, content=w.body) for w in webhooks_))
    assert [r.status_code for r in responses] == [200] * deliveries
    assert {r.json()["status"] for r in responses} == {"accepted"}
    handle = temporal_env.client.get_workflow_handle("payment-5100000003")
    signals = [
        event
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_signaled_event_attributes")
    ]
    # those that came while a relay was in flight waited for one more, together
    assert 1 <= len(signals) < deliveries
    rows = await _inbox(db, deliveries)
    assert [row.outcome for row in rows] == ["accepted"] * deliveries  # each delivery is still recorded


async def test_timestamp_in_seconds_is_accepted_too(live_settings):
    settings = live_settings(webhook_tolerance_seconds=300)
    webhook = signed_webhook("5100000003", ts=int(time.time()))
    async with serve(settings) as client:
        response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "ts",
    [
        pytest.param(lambda: int((time.time() - 3600) * 1000), id="stale-ms"),
        pytest.param(lambda: int(time.time() - 3600), id="stale-seconds"),
    ],
)
async def test_stale_signature_is_401_when_a_tolerance_is_set(live_settings, temporal_env, ts):
    settings = live_settings(webhook_tolerance_seconds=300)
    webhook = signed_webhook("5100000004", ts=ts())
    async with serve(settings) as client:
        response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
    assert response.status_code == 401
    assert not await _exists(temporal_env, "payment-5100000004")


@pytest.mark.parametrize("tamper", ["forged", "other-id", "missing", "malformed"])
async def test_bad_signature_is_401_and_starts_nothing(live_settings, temporal_env, db, tamper):
    settings = live_settings()
    webhook = signed_webhook("5100000005", secret="not-our-secret" if tamper == "forged" else WEBHOOK_SECRET)
    url = webhook.url
    if tamper == "other-id":  # signed for one payment, replayed against another
        url = url.replace("5100000005", "5100000006")
    if tamper == "missing":
        del webhook.headers["x-signature"]
    if tamper == "malformed":
        webhook.headers["x-signature"] = "v1=deadbeef"
    async with serve(settings) as client:
        response = await client.post(url, headers=webhook.headers, content=webhook.body)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert not await _exists(temporal_env, "payment-5100000005")
    assert not await _exists(temporal_env, "payment-5100000006")
    [row] = await _inbox(db, 1)
    assert row.outcome == "rejected" and not row.signature_valid


async def test_ipn_is_relayed_as_a_hint(live_settings, temporal_env):
    settings = live_settings()
    async with serve(settings) as client:
        response = await client.post(
            "/api/webhooks/mercadopago?topic=payment&id=5100000007", json={"resource": "5100000007", "topic": "payment"}
        )
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "paymentId": "5100000007", "message": response.json()["message"]}
    assert await _exists(temporal_env, "payment-5100000007")


@pytest.mark.parametrize(
    "url",
    [
        "/api/webhooks/mercadopago?topic=merchant_order&id=5100000008",
        "/api/webhooks/mercadopago?data.id=5100000008&type=topic_merchant_order_wh",
        "/api/webhooks/mercadopago?topic=chargebacks&id=5100000008",
        "/api/webhooks/mercadopago?data.id=5100000008&type=subscription_preapproval",
        "/api/webhooks/mercadopago",
    ],
)
async def test_other_topics_are_ignored(make_settings, db, url):
    async with serve(make_settings()) as client:  # Temporal down: ignoring must not need it
        response = await client.post(
            url, json={"resource": "https://api.mercadolibre.com/merchant_orders/1", "topic": "merchant_order"}
        )
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    [row] = await _inbox(db, 1)
    assert row.outcome == "ignored"


async def test_a_request_that_names_no_topic_is_not_a_notification(make_settings):
    async with serve(make_settings()) as client:
        answers = [
            await client.post("/api/webhooks/mercadopago"),
            await client.post("/api/webhooks/mercadopago", json={"resource": "https://api.mercadolibre.com/x/1"}),
            await client.post("/api/webhooks/mercadopago", content=b"not json"),
            await client.post("/api/webhooks/mercadopago", json=["type"]),
        ]
        # naming a topic anywhere makes it a notification again (here one we do not act on)
        named = await client.post("/api/webhooks/mercadopago", json={"type": "topic_merchant_order_wh"})
    for response in answers:
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_notification"
    assert named.status_code == 200 and named.json()["status"] == "ignored"


async def test_non_numeric_payment_id_is_400(live_settings, temporal_env):
    settings = live_settings()
    webhook = signed_webhook("abc123")
    async with serve(settings) as client:
        signed = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
        ipn = await client.post("/api/webhooks/mercadopago?topic=payment&id=12;drop")
        absent = await client.post("/api/webhooks/mercadopago?topic=payment")
    for response in (signed, ipn, absent):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_payment_id"
    assert not await _exists(temporal_env, "payment-abc123")


async def test_oversized_body_is_413(live_settings, temporal_env):
    settings = live_settings()
    webhook = signed_webhook("5100000009")
    padding = b'{"action":"payment.updated","padding":"' + b"x" * (64 * 1024) + b'"}'
    async with serve(settings) as client:
        declared = await client.post(webhook.url, headers=webhook.headers, content=padding)

        async def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(80):
                yield b"x" * 1024

        streamed = await client.post(webhook.url, headers=webhook.headers, content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
    assert not await _exists(temporal_env, "payment-5100000009")


async def test_malformed_body_with_valid_signature_is_still_relayed(live_settings, temporal_env):
    settings = live_settings()
    webhook = signed_webhook("5100000010")
    async with serve(settings) as client:
        response = await client.post(webhook.url, headers=webhook.headers, content=b"{not json")
    assert response.status_code == 200
    assert await _exists(temporal_env, "payment-5100000010")


async def test_temporal_down_is_503_within_two_seconds(make_settings, db):
    settings = make_settings()  # nothing listens on the Temporal port
    webhook = signed_webhook("5100000011")
    async with serve(settings) as client:
        started = time.monotonic()
        response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"] == "temporal_unavailable"
    assert elapsed < ANSWER_WITHIN
    [row] = await _inbox(db, 1)
    assert row.outcome == "unavailable" and row.signature_valid


@contextmanager
def silent_server():
    """A port that accepts connections and never answers: Temporal hanging, not refusing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_temporal_hanging_is_503_within_two_seconds(make_settings):
    with silent_server() as port:
        settings = make_settings(temporal_address=f"127.0.0.1:{port}")
        webhook = signed_webhook("5100000012")
        async with serve(settings) as client:
            started = time.monotonic()
            response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
            elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < ANSWER_WITHIN


async def test_database_trouble_does_not_delay_or_fail_a_relayed_notification(
    live_settings, temporal_env, db, database_url
):
    settings = live_settings()
    webhook = signed_webhook("5100000013")
    # another writer holds the SQLite write lock: the inbox insert would wait (busy_timeout)
    blocker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        async with serve(settings) as client:
            started = time.monotonic()
            response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            assert elapsed < ANSWER_WITHIN
            blocker.execute("ROLLBACK")  # let the pending record finish before shutdown
    finally:
        blocker.close()
    assert await _exists(temporal_env, "payment-5100000013")


async def test_only_a_delivery_temporal_does_not_hold_waits_for_its_inbox_record(
    live_settings, temporal_env, db, database_url, monkeypatch
):
    # waits long enough that an answer held up by its record could not come while the lock is held
    monkeypatch.setattr(webhooks, "INBOX_WAIT_SECONDS", 60.0)
    monkeypatch.setattr(webhooks, "ANSWER_WITHIN_SECONDS", 60.0)
    settings = live_settings()
    accepted = signed_webhook("5100000016")
    forged = signed_webhook("5100000017", secret="not-the-secret")
    blocker = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # no inbox record can be written meanwhile
        async with serve(settings) as client:
            # relayed: Temporal holds it, so the answer does not wait for the inbox
            async with asyncio.timeout(10):
                response = await client.post(accepted.url, headers=accepted.headers, content=accepted.body)
            assert response.status_code == 200
            # refused: its inbox record is the only trace of it, so the answer waits for it
            refused = asyncio.create_task(client.post(forged.url, headers=forged.headers, content=forged.body))
            done, _ = await asyncio.wait({refused}, timeout=0.5)
            assert not done, "a refused delivery was answered before its inbox record was written"
            blocker.execute("ROLLBACK")
            async with asyncio.timeout(10):
                assert (await refused).status_code == 401
    finally:
        blocker.close()
    rows = await _inbox(db, 2)
    assert sorted((row.resource_id, row.outcome) for row in rows) == [
        ("5100000016", "accepted"),
        ("5100000017", "rejected"),
    ]


async def test_missing_inbox_table_does_not_fail_a_relayed_notification(live_settings, temporal_env):
    settings = live_settings()  # no `db` fixture: the webhook_events table does not exist
    webhook = signed_webhook("5100000014")
    async with serve(settings) as client:
        response = await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
    assert response.status_code == 200
    assert await _exists(temporal_env, "payment-5100000014")


async def test_webhook_metrics(live_settings):
    settings = live_settings()
    webhook = signed_webhook("5100000015")
    async with serve(settings) as client:
        await client.post(webhook.url, headers=webhook.headers, content=webhook.body)
        await client.post("/api/webhooks/mercadopago?topic=merchant_order&id=1")
        await client.post("/api/webhooks/mercadopago?topic=no-such-topic-" + "x" * 50 + "&id=1")
        text = (await client.get("/metrics")).text
    assert 'paysaga_webhooks_total{outcome="accepted",topic="payment"} 1.0' in text
    assert 'paysaga_webhooks_total{outcome="ignored",topic="merchant_order"} 1.0' in text
    assert 'paysaga_webhooks_total{outcome="ignored",topic="other"} 1.0' in text
    assert 'paysaga_webhook_refusals_total{reason="ignored_topic"} 2.0' in text


async def test_accepted_deliveries_are_all_recorded_however_refusals_are_sampled(live_settings, temporal_env, db):
    settings = live_settings(webhook_refused_samples_per_minute=0)  # no refused delivery is written
    async with serve(settings) as client:
        for n in range(5):
            forged = signed_webhook(f"51000001{n:02d}", secret="not-our-secret")
            valid = signed_webhook(f"51000002{n:02d}")
            assert (await client.post(forged.url, headers=forged.headers, content=forged.body)).status_code == 401
            assert (await client.post(valid.url, headers=valid.headers, content=valid.body)).status_code == 200
        text = (await client.get("/metrics")).text
    rows = await _inbox(db, 5)
    assert [(row.resource_id, row.outcome) for row in rows] == [(f"51000002{n:02d}", "accepted") for n in range(5)]
    assert 'paysaga_webhook_inbox_shed_total{reason="sampled_out"} 5.0' in text
    assert 'paysaga_webhook_refusals_total{reason="signature_mismatch"} 5.0' in text
