"""The webhook endpoint against hostile senders: replays, floods, oversized bodies, and an inbox
that records every delivery without keeping anything secret."""
from __future__ import annotations

import time
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from api.main import create_app
from api.rate_limit import IpnRateLimiter
from api.routers.webhooks import MAX_BODY_BYTES
from api.webhook_signature import SignatureRejected, verify_signature
from config.settings import Settings
from store.models import WebhookEventRow
from tests.api.helpers import WEBHOOK_SECRET, signed_webhook
from tests.support.waiting import eventually

IPN = "/api/webhooks/mercadopago?topic=merchant_order&id=5354740656"


@asynccontextmanager
async def serve_from(settings: Settings, address: str = "203.0.113.7"):
    """The app over ASGI, as seen from `address`; `.switch(ip)` changes the source address."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        clients = {}

        def client(ip: str) -> httpx.AsyncClient:
            if ip not in clients:
                transport = httpx.ASGITransport(app=app, client=(ip, 40000))
                clients[ip] = httpx.AsyncClient(transport=transport, base_url="http://paysaga.test")
            return clients[ip]

        try:
            yield client
        finally:
            for each in clients.values():
                await each.aclose()


async def _inbox(db, expected: int) -> list[WebhookEventRow]:
    async def rows():
        async with db() as session:
            found = (await session.scalars(select(WebhookEventRow).order_by(WebhookEventRow.id))).all()
        return list(found) if len(found) >= expected else []

    return await eventually(rows, timeout=5.0, interval=0.05, what=f"{expected} inbox rows")


# --- replays ------------------------------------------------------------------------------

def test_the_default_tolerance_refuses_replays():
    assert Settings().webhook_tolerance_seconds == 300


@pytest.mark.parametrize("unit", [1000, 1], ids=["ts-ms", "ts-seconds"])
def test_a_captured_delivery_verifies_only_within_the_tolerance(unit):
    captured_at = time.time()
    webhook = signed_webhook("5200000001", ts=int(captured_at * unit))
    signature, request_id = webhook.headers["x-signature"], webhook.headers["x-request-id"]
    for later in (0, 120, 299):
        verify_signature(signature, request_id, "5200000001", WEBHOOK_SECRET, 300, now=lambda: captured_at + later)
    for later in (301, 3600, -301):  # replayed later, or dated in the future
        with pytest.raises(SignatureRejected, match="TimestampOutOfTolerance"):
            verify_signature(signature, request_id, "5200000001", WEBHOOK_SECRET, 300,
                             now=lambda: captured_at + later)


async def test_a_valid_delivery_replayed_with_its_old_timestamp_is_401(make_settings, db):
    settings = make_settings()  # the default tolerance, as in production
    captured = signed_webhook("5200000002", ts=int((time.time() - 900) * 1000))  # signed 15 minutes ago
    async with serve_from(settings) as client:
        response = await client("198.51.100.1").post(captured.url, headers=captured.headers, content=captured.body)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_signature",
                               "message": "the x-signature header is missing or does not verify"}
    [row] = await _inbox(db, 1)
    assert row.outcome == "rejected" and row.detail == "signature: TimestampOutOfTolerance"


# --- body size ------------------------------------------------------------------------------

@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_a_body_over_the_limit_is_413(make_settings, db, declared):
    settings = make_settings()
    webhook = signed_webhook("5200000003")
    big = b"{" + b" " * MAX_BODY_BYTES + b"}"

    async def chunks():
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    async with serve_from(settings) as client:
        response = await client("198.51.100.2").post(
            webhook.url, headers=webhook.headers, content=big if declared else chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    [row] = await _inbox(db, 1)
    assert row.outcome == "rejected" and "larger than" in row.detail


# --- rate limits on unsigned hints ---------------------------------------------------------------

async def test_unsigned_hints_are_limited_per_source_address(make_settings, db):
    settings = make_settings(ipn_rate_limit_per_ip=3, ipn_rate_limit_global=100)
    async with serve_from(settings) as client:
        flood = [await client("198.51.100.3").post(IPN, json={"topic": "merchant_order"}) for _ in range(5)]
        other = await client("198.51.100.4").post(IPN, json={"topic": "merchant_order"})
    assert [r.status_code for r in flood] == [200, 200, 200, 429, 429]
    assert flood[-1].json() == {"error": "rate_limited", "message": "too many unsigned notifications; retry later"}
    assert int(flood[-1].headers["retry-after"]) >= 1
    assert other.status_code == 200  # another sender is not punished for the flood
    rows = await _inbox(db, 6)
    assert [row.outcome for row in rows].count("rate_limited") == 2


async def test_unsigned_hints_are_limited_in_total(make_settings):
    settings = make_settings(ipn_rate_limit_per_ip=100, ipn_rate_limit_global=4)
    async with serve_from(settings) as client:
        answers = [await client(f"198.51.100.{10 + n}").post(IPN, json={}) for n in range(6)]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 429, 429]


async def test_signed_webhooks_are_not_rate_limited(make_settings):
    settings = make_settings(ipn_rate_limit_per_ip=1, ipn_rate_limit_global=1)
    async with serve_from(settings) as client:
        for n in range(4):
            webhook = signed_webhook(f"52000001{n:02d}")
            response = await client("198.51.100.30").post(webhook.url, headers=webhook.headers, content=webhook.body)
            # Temporal is down in these tests: 503, never 429
            assert response.status_code == 503, response.text


def test_rate_limiter_refills_and_forgets_old_sources():
    now = [0.0]
    limiter = IpnRateLimiter(per_ip_per_minute=2, global_per_minute=1000, max_sources=3, clock=lambda: now[0])
    assert limiter.admit("a") is None and limiter.admit("a") is None
    wait = limiter.admit("a")
    assert wait is not None and 0 < wait <= 30
    now[0] += 30  # one token back
    assert limiter.admit("a") is None
    for source in ("b", "c", "d"):  # "a" is the least recently seen: forgotten
        limiter.admit(source)
    assert len(limiter._sources) == 3 and "a" not in limiter._sources


# --- the inbox keeps every delivery and no secret ---------------------------------------------

async def test_the_inbox_records_every_delivery_and_no_secret(make_settings, db):
    settings = make_settings(ipn_rate_limit_per_ip=2)
    valid = signed_webhook("5200000010")
    forged = signed_webhook("5200000011", secret="someone-elses-secret")
    stale = signed_webhook("5200000012", ts=int((time.time() - 3600) * 1000))
    unsigned = signed_webhook("5200000013")
    del unsigned.headers["x-signature"]
    deliveries = [
        (valid.url, valid.headers, valid.body),
        (forged.url, forged.headers, forged.body),
        (stale.url, stale.headers, stale.body),
        (unsigned.url, unsigned.headers, unsigned.body),
        (valid.url, valid.headers, b"{not json"),
        (valid.url, valid.headers, b"x" * (MAX_BODY_BYTES + 1)),
        ("/api/webhooks/mercadopago?type=payment&data.id=abc", valid.headers, valid.body),
        (IPN, {}, b'{"topic":"merchant_order"}'),
        (IPN, {}, b"{}"),
        (IPN, {}, b"{}"),  # over the per-address limit
        ("/api/webhooks/mercadopago", {}, b""),
    ]
    async with serve_from(settings) as client:
        statuses = [(await client("198.51.100.40").post(url, headers=headers, content=body)).status_code
                    for url, headers, body in deliveries]
    assert statuses == [503, 401, 401, 401, 503, 413, 401, 200, 200, 429, 429]
    rows = await _inbox(db, len(deliveries))
    assert len(rows) == len(deliveries)
    secrets = [WEBHOOK_SECRET, settings.jwt_secret]
    for webhook in (valid, forged, stale):
        secrets += [webhook.headers["x-signature"], webhook.headers["x-signature"].split("v1=")[1]]
    for row in rows:
        stored = " ".join(str(getattr(row, column.key)) for column in WebhookEventRow.__table__.columns)
        for secret in secrets:
            assert secret not in stored, (row.id, stored)
    assert {row.outcome for row in rows} >= {"unavailable", "rejected", "ignored", "rate_limited"}
    assert [row.signature_valid for row in rows][:3] == [True, False, False]
