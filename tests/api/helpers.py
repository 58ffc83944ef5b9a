"""What the API tests share: the app served in-process, tokens, signed webhooks, seeded ids."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from api.auth import issue_token
from api.main import create_app
from config.settings import Settings

JWT_SECRET = "api-tests-jwt-secret-0123456789abcdef"
WEBHOOK_SECRET = "api-tests-webhook-secret"
NOW = datetime.now(UTC).replace(microsecond=0)
ALICE, BOB, ADMIN = 1, 2, 99


@asynccontextmanager
async def serve(settings: Settings, app: FastAPI | None = None):
    """The app with its lifespan run, driven in-process over ASGI."""
    app = app or create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://paysaga.test") as client:
            yield client


def bearer(settings: Settings, user_id: int, roles=(), ttl=timedelta(hours=1)) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user_id, roles=roles, ttl=ttl)}"}


@dataclass
class SignedWebhook:
    url: str
    headers: dict[str, str]
    body: bytes


def signed_webhook(
    payment_id: str,
    secret: str = WEBHOOK_SECRET,
    ts: int | None = None,
    request_id: str | None = None,
    action: str = "payment.updated",
) -> SignedWebhook:
    """A webhook exactly as MercadoPago sends it (ts in milliseconds)."""
    ts = int(time.time() * 1000) if ts is None else ts
    request_id = request_id or str(uuid.uuid4())
    manifest = f"id:{payment_id};request-id:{request_id};ts:{ts};"
    v1 = hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()
    # %-formatting: the JSON's own braces stay as they are
    body = (
        '{"action":"%s","api_version":"v1","data":{"id":"%s"},"date_created":"2025-01-01T00:00:00Z",'  # noqa: UP031
        '"id":12345,"live_mode":false,"type":"payment","user_id":"724484980"}' % (action, payment_id)
    ).encode()
    return SignedWebhook(
        url=f"/api/webhooks/mercadopago?data.id={payment_id}&type=payment",
        headers={"x-signature": f"ts={ts},v1={v1}", "x-request-id": request_id, "content-type": "application/json"},
        body=body,
    )


@dataclass
class Seed:
    """Ids of the rows the `seed` fixture wrote."""

    alice_payments: list[int]  # newest first
    alice_approved: int
    bob_payment: int
    alice_subscription: int
    bob_subscription: int
    alice_checkout: str
    bare_checkout: str
