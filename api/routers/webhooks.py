"""MercadoPago notifications: verify, relay to the payment's workflow, answer within 2 seconds.

A notification is a hint: the payment workflow reads the payment back from MercadoPago. So only
the payment id (from the query string) and the delivery's headers matter here; the body is
informational. 200 means Temporal holds the notification; 503 makes MercadoPago retry.

What a forged delivery may cost is bounded: a source whose signatures keep failing gets 429
before its HMACs are computed, refusals are counted (`paysaga_webhook_refusals_total`) and only
sampled into the inbox, and the body limit is enforced before anything reads it (api/body_limit.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.body_limit import RequestBodyTooLarge
from api.coalesced_relay import CoalescedRelay
from api.deps import get_metrics, get_settings
from api.errors import error_body
from api.inbox import InboxEntry
from api.rate_limit import FailureRateLimiter, IpnRateLimiter
from api.temporal_calls import bounded
from api.webhook_signature import SignatureRejected, verify_signature
from config.settings import Settings
from workflows.ids import payment_workflow_id
from workflows.messages import PaymentNotification
from workflows.starters import relay_payment_hint

log = logging.getLogger("paysaga.api.webhooks")

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

NOTIFICATION_PATH = "/api/webhooks/mercadopago"
# the notification's own body limit, enforced by api/body_limit.py whatever the global one is
MAX_BODY_BYTES = 64 * 1024
ANSWER_WITHIN_SECONDS = 2.0
RELAY_TIMEOUT_SECONDS = 1.5
# at most this long waiting for the inbox record of a delivery Temporal does not hold, and never
# past the answer deadline
INBOX_WAIT_SECONDS = 0.3
_PAYMENT_ID = re.compile(r"^[1-9][0-9]{0,19}$")
# the refusal counter's reasons for each signature failure (a fixed set: bounded label values)
_SIGNATURE_REFUSALS = {
    "MissingSignatureHeader": "missing_signature",
    "MalformedSignatureHeader": "malformed_signature",
    "SignatureMismatch": "signature_mismatch",
    "TimestampOutOfTolerance": "stale_signature",
}


@dataclass(frozen=True)
class Delivery:
    """What a delivery says, whichever of MercadoPago's two forms it came in."""

    topic: str | None
    resource_id: str | None
    signed_form: bool  # webhook (`type` + `data.id`, signed) rather than IPN (`topic` + `id`)
    x_signature: str | None
    request_id: str | None

    @classmethod
    def of(cls, request: Request) -> Delivery:
        query = request.query_params
        signed_form = "type" in query
        return cls(
            topic=query.get("type") if signed_form else query.get("topic"),
            resource_id=query.get("data.id") if signed_form else query.get("id"),
            signed_form=signed_form,
            x_signature=request.headers.get("x-signature"),
            request_id=request.headers.get("x-request-id"),
        )


@dataclass
class Refusal:
    """Why a delivery was refused, for the refusal counter (None while it is not)."""

    reason: str | None = None


@router.post("/mercadopago")
async def mercadopago_notification(request: Request) -> JSONResponse:
    started = time.monotonic()
    delivery = Delivery.of(request)
    entry = InboxEntry(
        topic=delivery.topic,
        action=None,
        resource_id=delivery.resource_id,
        request_id=delivery.request_id,
        signature_valid=False,
        outcome="rejected",
    )
    refusal = Refusal()
    try:
        response = await _handle(request, delivery, entry, refusal)
    except Exception:
        entry.outcome, entry.detail = "rejected", "internal error"
        raise
    finally:
        get_metrics(request).webhook(delivery.topic, entry.outcome, refusal.reason)
        await _record(request, entry, deadline=started + ANSWER_WITHIN_SECONDS - 0.1)
    return response


async def _handle(request: Request, delivery: Delivery, entry: InboxEntry, refusal: Refusal) -> JSONResponse:
    settings = get_settings(request)
    source = request.client.host if request.client else "unknown"
    if not delivery.signed_form:
        wait = _ipn_limiter(request).admit(source)
        if wait is not None:
            return _rate_limited(
                entry,
                refusal,
                wait,
                "ipn_rate_limited",
                "unsigned IPN hints over their rate limit",
                "too many unsigned notifications; retry later",
            )
    else:
        wait = _signature_failure_limiter(request).blocked(source)
        if wait is not None:
            return _rate_limited(
                entry,
                refusal,
                wait,
                "signature_rate_limited",
                "source over its limit of failing signatures",
                "too many deliveries with a failing signature; retry later",
            )
    try:
        body = await request.body()
    except RequestBodyTooLarge as exc:  # streamed past the limit (a declared one never gets here)
        entry.detail = f"body larger than {MAX_BODY_BYTES} bytes"
        refusal.reason = "payload_too_large"
        return _error(413, exc.code, exc.detail)
    parsed = _json_object(body)
    entry.action = _action(parsed)
    if delivery.topic is None and not any(key in parsed for key in ("type", "topic", "action")):
        # nothing in the query and nothing in the body says what this is: not a notification
        entry.detail = "names no topic"
        refusal.reason = "invalid_notification"
        return _error(
            400,
            "invalid_notification",
            "the request names no notification topic "
            "(query `type`/`topic`, or a JSON body with `type`, `topic` or `action`)",
        )

    def signature_checked() -> str | None:
        """None when the signature holds, else why it does not (the source is charged for it)."""
        try:
            verify_signature(
                delivery.x_signature,
                delivery.request_id,
                delivery.resource_id,
                settings.webhook_secret,
                settings.webhook_tolerance_seconds,
            )
        except SignatureRejected as exc:
            _signature_failure_limiter(request).failed(source)
            return exc.reason
        entry.signature_valid = True
        return None

    if delivery.topic != "payment":
        if delivery.signed_form and delivery.x_signature:
            signature_checked()  # for the inbox only: we act on none of these topics
        entry.outcome, entry.detail = "ignored", f"topic {delivery.topic!r} is not acted on"
        refusal.reason = "ignored_topic"
        return JSONResponse(
            {"status": "ignored", "topic": delivery.topic, "message": "this notification topic is not acted on"}
        )

    if delivery.signed_form:
        reason = signature_checked()
        if reason is not None:
            entry.detail = f"signature: {reason}"
            refusal.reason = _SIGNATURE_REFUSALS.get(reason, "invalid_signature")
            return _error(401, "invalid_signature", "the x-signature header is missing or does not verify")
    # IPN deliveries cannot be signed: relaying one only makes the workflow re-read the payment

    payment_id = delivery.resource_id
    if payment_id is None or not _PAYMENT_ID.match(payment_id):
        entry.detail = "payment id is not numeric"
        refusal.reason = "invalid_payment_id"
        return _error(400, "invalid_payment_id", "the payment id must be a numeric string")

    try:
        await _relay(request, payment_id, entry.action, delivery.request_id)
    except Exception as exc:  # whatever went wrong, MercadoPago must retry
        log.warning("could not relay payment %s: %s", payment_id, type(exc).__name__)
        entry.outcome, entry.detail = "unavailable", f"relay failed: {type(exc).__name__}"
        return _error(
            503,
            "temporal_unavailable",
            "the notification could not be handed over; retry later",
            headers={"Retry-After": "5"},
        )
    entry.outcome, entry.detail = "accepted", f"relayed to {payment_workflow_id(payment_id)}"
    return JSONResponse(
        {"status": "accepted", "paymentId": payment_id, "message": "notification handed to the payment workflow"}
    )


async def _relay(request: Request, payment_id: str, action: str | None, request_id: str | None) -> None:
    """Durable in Temporal once this returns (duplicates in flight share one relay)."""
    notification = PaymentNotification(topic="payment", action=action, request_id=request_id)
    await request.app.state.payment_hint_relay.relay(payment_id, notification, RELAY_TIMEOUT_SECONDS)


def payment_hint_relay(temporal: Client, settings: Settings) -> CoalescedRelay[PaymentNotification]:
    """The app's relay of payment hints: signal-with-start of the payment's routing workflow."""

    async def send(payment_id: str, notification: PaymentNotification) -> None:
        await bounded(
            relay_payment_hint(
                temporal,
                task_queue=settings.temporal_task_queue,
                mercadopago_payment_id=payment_id,
                idle_seconds=settings.payment_router_idle_delta.total_seconds(),
                notification=notification,
            ),
            RELAY_TIMEOUT_SECONDS,
            "relay payment notification",
        )

    return CoalescedRelay(send)


async def _record(request: Request, entry: InboxEntry, deadline: float) -> None:
    task = request.app.state.inbox.record(entry)
    if task is None or entry.outcome == "accepted":
        # not recorded (a sampled-out refusal, or the queue is full: counted), or Temporal holds
        # this one: its inbox record follows without holding up the answer (the worker's writes
        # can keep SQLite's write lock a while, which only delays the record)
        return
    budget = min(INBOX_WAIT_SECONDS, deadline - time.monotonic())
    if budget > 0:
        # asyncio.wait does not cancel the write: it may finish after we answer
        await asyncio.wait({task}, timeout=budget)


def _json_object(body: bytes) -> dict:
    """The body when it is a readable JSON object, else empty: a malformed body is not an error."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _action(body: dict) -> str | None:
    action = body.get("action")
    return action[:64] if isinstance(action, str) else None


def _ipn_limiter(request: Request) -> IpnRateLimiter:
    """One limiter per app, built from the settings on first use."""
    state = request.app.state
    limiter = getattr(state, "ipn_rate_limiter", None)
    if limiter is None:
        settings = get_settings(request)
        limiter = state.ipn_rate_limiter = IpnRateLimiter(
            settings.ipn_rate_limit_per_ip, settings.ipn_rate_limit_global
        )
    return limiter


def _signature_failure_limiter(request: Request) -> FailureRateLimiter:
    """One limiter per app, built from the settings on first use."""
    state = request.app.state
    limiter = getattr(state, "signature_failure_limiter", None)
    if limiter is None:
        per_minute = get_settings(request).webhook_invalid_signature_rate_limit_per_ip
        limiter = state.signature_failure_limiter = FailureRateLimiter(per_minute)
    return limiter


def _rate_limited(
    entry: InboxEntry, refusal: Refusal, wait: float, reason: str, detail: str, message: str
) -> JSONResponse:
    entry.outcome, entry.detail = "rate_limited", detail
    refusal.reason = reason
    return _error(429, "rate_limited", message, headers={"Retry-After": str(max(1, round(wait)))})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)
