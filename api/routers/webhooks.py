"""MercadoPago notifications: verify, relay to the payment's workflow, answer within 2 seconds.

A notification is a hint: the payment workflow reads the payment back from MercadoPago. So only
the payment id (from the query string) and the delivery's headers matter here; the body is
informational. 200 means Temporal holds the notification; 503 makes MercadoPago retry.

What a forged delivery may cost is bounded: a source whose signatures keep failing gets 429
before its HMACs are computed, refusals are counted (`paysaga_webhook_refusals_total`) and only
sampled into the inbox, and the body limit is enforced before anything reads it (api/body_limit.py).

Each delivery ends in one `WebhookOutcome`; its answer, its inbox record and its count are all
read from that value, in one place.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.body_limit import RequestBodyTooLarge
from api.coalesced_relay import CoalescedRelay
from api.deps import (
    IpnRateLimiterDep,
    MetricsDep,
    PaymentHintRelayDep,
    SettingsDep,
    SignatureFailureLimiterDep,
    WebhookInboxDep,
)
from api.errors import error_body
from api.inbox import InboxEntry, WebhookInbox
from api.rate_limit import FailureRateLimiter, IpnRateLimiter
from api.temporal_calls import bounded
from api.webhook_signature import SignatureRejected, verify_signature
from config.settings import Settings
from workflows.ids import payment_workflow_id
from workflows.payment_messages import PaymentNotification
from workflows.starters import notify_payment_workflow

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
    """What a delivery says, whichever of MercadoPago's two forms it came in, and where from."""

    topic: str | None
    resource_id: str | None
    signed_form: bool  # webhook (`type` + `data.id`, signed) rather than IPN (`topic` + `id`)
    x_signature: str | None
    request_id: str | None
    source: str  # the sender's address, which the rate limits are kept by

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
            source=request.client.host if request.client else "unknown",
        )


@dataclass(frozen=True)
class WebhookOutcome:
    """How one delivery ended: the HTTP answer, the inbox record and the counters all come from it."""

    outcome: str  # accepted / unavailable / ignored / rejected / rate_limited
    status: int
    body: Mapping[str, str | None]
    detail: str | None  # for the inbox: why, in a few words
    refusal: str | None = None  # the refusal counter's reason; None unless the delivery was refused
    headers: Mapping[str, str] | None = None
    action: str | None = None  # the body's `action`, once the body was read
    signature_valid: bool = False

    def response(self) -> JSONResponse:
        headers = dict(self.headers) if self.headers is not None else None
        return JSONResponse(dict(self.body), status_code=self.status, headers=headers)

    def inbox_entry(self, delivery: Delivery) -> InboxEntry:
        return InboxEntry(
            topic=delivery.topic,
            action=self.action,
            resource_id=delivery.resource_id,
            request_id=delivery.request_id,
            signature_valid=self.signature_valid,
            outcome=self.outcome,
            detail=self.detail,
        )


# what is counted and recorded when handling raises (the error middleware answers it), or is cancelled
_FAILED = WebhookOutcome(
    outcome="rejected",
    status=500,
    body=error_body("internal_error", "internal server error"),
    detail="internal error",
)
_CANCELLED = replace(_FAILED, detail=None)


@router.post("/mercadopago")
async def mercadopago_notification(
    request: Request,
    settings: SettingsDep,
    metrics: MetricsDep,
    inbox: WebhookInboxDep,
    relay: PaymentHintRelayDep,
    ipn_limiter: IpnRateLimiterDep,
    signature_failures: SignatureFailureLimiterDep,
) -> JSONResponse:
    started = time.monotonic()
    delivery = Delivery.of(request)
    result = _CANCELLED
    try:
        result = await _handle(request, delivery, settings, relay, ipn_limiter, signature_failures)
    except Exception:
        result = _FAILED
        raise
    finally:
        metrics.webhook(delivery.topic, result.outcome, result.refusal)
        await _record(inbox, result, delivery, deadline=started + ANSWER_WITHIN_SECONDS - 0.1)
    return result.response()


async def _handle(
    request: Request,
    delivery: Delivery,
    settings: Settings,
    relay: CoalescedRelay[PaymentNotification],
    ipn_limiter: IpnRateLimiter,
    signature_failures: FailureRateLimiter,
) -> WebhookOutcome:
    """The first check a delivery fails answers it: rate limit, body, topic, signature, payment id,
    relay; a delivery that passes them all is accepted."""
    limited = _rate_limited(delivery, ipn_limiter, signature_failures)
    if limited is not None:
        return limited

    try:
        body = _json_object(await request.body())
    except RequestBodyTooLarge as exc:  # streamed past the limit (a declared one never gets here)
        return _refused(
            413, exc.code, exc.detail, refusal="payload_too_large", detail=f"body larger than {MAX_BODY_BYTES} bytes"
        )
    action = _action(body)

    if delivery.topic is None and not any(key in body for key in ("type", "topic", "action")):
        # nothing in the query and nothing in the body says what this is: not a notification
        message = (
            "the request names no notification topic "
            "(query `type`/`topic`, or a JSON body with `type`, `topic` or `action`)"
        )
        return _refused(
            400, "invalid_notification", message, refusal="invalid_notification", detail="names no topic", action=action
        )

    if delivery.topic != "payment":
        # the signature is checked for the inbox only: we act on none of these topics
        signature_valid = bool(delivery.signed_form and delivery.x_signature) and (
            _signature_failure(delivery, settings, signature_failures) is None
        )
        return WebhookOutcome(
            outcome="ignored",
            status=200,
            body={"status": "ignored", "topic": delivery.topic, "message": "this notification topic is not acted on"},
            detail=f"topic {delivery.topic!r} is not acted on",
            refusal="ignored_topic",
            action=action,
            signature_valid=signature_valid,
        )

    # only the signed form is checked: an IPN cannot be signed, and relaying one only makes the
    # workflow re-read the payment
    if delivery.signed_form:
        failure = _signature_failure(delivery, settings, signature_failures)
        if failure is not None:
            return _refused(
                401,
                "invalid_signature",
                "the x-signature header is missing or does not verify",
                refusal=_SIGNATURE_REFUSALS.get(failure, "invalid_signature"),
                detail=f"signature: {failure}",
                action=action,
            )
    signature_valid = delivery.signed_form

    payment_id = delivery.resource_id
    if payment_id is None or not _PAYMENT_ID.match(payment_id):
        return _refused(
            400,
            "invalid_payment_id",
            "the payment id must be a numeric string",
            refusal="invalid_payment_id",
            detail="payment id is not numeric",
            action=action,
            signature_valid=signature_valid,
        )

    notification = PaymentNotification(topic="payment", action=action, request_id=delivery.request_id)
    try:
        # durable in Temporal once this returns (duplicates in flight share one relay)
        await relay.relay(payment_id, notification, RELAY_TIMEOUT_SECONDS)
    except Exception as exc:  # whatever went wrong, MercadoPago must retry
        log.warning("could not relay payment %s: %s", payment_id, type(exc).__name__)
        return WebhookOutcome(
            outcome="unavailable",
            status=503,
            body=error_body("temporal_unavailable", "the notification could not be handed over; retry later"),
            detail=f"relay failed: {type(exc).__name__}",
            headers={"Retry-After": "5"},
            action=action,
            signature_valid=signature_valid,
        )

    return WebhookOutcome(
        outcome="accepted",
        status=200,
        body={"status": "accepted", "paymentId": payment_id, "message": "notification handed to the payment workflow"},
        detail=f"relayed to {payment_workflow_id(payment_id)}",
        action=action,
        signature_valid=signature_valid,
    )


def _rate_limited(
    delivery: Delivery, ipn_limiter: IpnRateLimiter, signature_failures: FailureRateLimiter
) -> WebhookOutcome | None:
    """429 for an unsigned hint over its rate, or for a source whose signatures keep failing."""
    if not delivery.signed_form:
        wait = ipn_limiter.admit(delivery.source)
        reason, detail = "ipn_rate_limited", "unsigned IPN hints over their rate limit"
        message = "too many unsigned notifications; retry later"
    else:
        wait = signature_failures.blocked(delivery.source)
        reason, detail = "signature_rate_limited", "source over its limit of failing signatures"
        message = "too many deliveries with a failing signature; retry later"
    if wait is None:
        return None
    return _refused(
        429, "rate_limited", message, refusal=reason, detail=detail, outcome="rate_limited", headers=_retry_after(wait)
    )


def _signature_failure(delivery: Delivery, settings: Settings, signature_failures: FailureRateLimiter) -> str | None:
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
        signature_failures.failed(delivery.source)
        return exc.reason
    return None


def _refused(
    status: int,
    code: str,
    message: str,
    *,
    refusal: str,
    detail: str,
    outcome: str = "rejected",
    headers: Mapping[str, str] | None = None,
    action: str | None = None,
    signature_valid: bool = False,
) -> WebhookOutcome:
    """An error answer, counted as a refusal for `refusal`."""
    return WebhookOutcome(
        outcome=outcome,
        status=status,
        body=error_body(code, message),
        detail=detail,
        refusal=refusal,
        headers=headers,
        action=action,
        signature_valid=signature_valid,
    )


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, round(wait)))}


def payment_hint_relay(temporal: Client, settings: Settings) -> CoalescedRelay[PaymentNotification]:
    """The app's relay of payment hints: signal-with-start of the payment's routing workflow."""

    async def send(payment_id: str, notification: PaymentNotification) -> None:
        await bounded(
            notify_payment_workflow(
                temporal,
                task_queue=settings.temporal_task_queue,
                mercadopago_payment_id=payment_id,
                idle_seconds=settings.payment_router_idle.total_seconds(),
                notification=notification,
            ),
            RELAY_TIMEOUT_SECONDS,
            "relay payment notification",
        )

    return CoalescedRelay(send)


async def _record(inbox: WebhookInbox, result: WebhookOutcome, delivery: Delivery, deadline: float) -> None:
    task = inbox.record(result.inbox_entry(delivery))
    if task is None or result.outcome == "accepted":
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
