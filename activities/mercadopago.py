"""The MercadoPago gateway: every call to MercadoPago goes through here, via the official SDK.

Activities are synchronous (the SDK uses `requests`) and run on the worker's thread pool.
Every write carries an idempotency key derived from the workflow and the operation, so a
retried activity never creates a second preference or refund.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import mercadopago
import requests
from mercadopago.config import RequestOptions
from prometheus_client import Counter, Gauge
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.circuit_breaker import CircuitBreaker, CircuitOpen, CircuitState
from domain.gateway import (
    CreatePreferenceInput,
    PaymentPage,
    PaymentPageRequest,
    PaymentSnapshot,
    PaymentWindow,
    PreferenceCreated,
    RefundInput,
    RefundResult,
)
from domain.statuses import from_mercadopago
from telemetry import business_metrics

# Error types a retry cannot fix; workflows name them in their retry policies.
PAYMENT_NOT_FOUND = "MercadoPagoNotFound"
UNAUTHORIZED = "MercadoPagoUnauthorized"
REJECTED_REQUEST = "MercadoPagoRejectedRequest"
NON_RETRYABLE = (PAYMENT_NOT_FOUND, UNAUTHORIZED, REJECTED_REQUEST)
# Retryable: the call was not made because the circuit breaker is open.
CIRCUIT_OPEN = "MercadoPagoCircuitOpen"
# Retryable: MercadoPago answered 429 (too many requests); retried when it says, or a little later.
THROTTLED = "MercadoPagoThrottled"
THROTTLED_DEFAULT_DELAY_SECONDS = 10.0

log = logging.getLogger("paysaga.mercadopago")

SHORT_CIRCUITED = Counter(
    "paysaga_mercadopago_short_circuited",
    "Calls to MercadoPago not made because its circuit was open",
    ["operation"],
    registry=business_metrics.REGISTRY,
)
CIRCUIT_IS_OPEN = Gauge(
    "paysaga_mercadopago_circuit_open",
    "1 while the MercadoPago circuit breaker is open or half-open",
    registry=business_metrics.REGISTRY,
)


def mercadopago_breaker(failure_threshold: int, cooldown_seconds: float) -> CircuitBreaker:
    """The worker's one breaker for MercadoPago, shared by every activity thread."""
    return CircuitBreaker(
        "mercadopago",
        failure_threshold=failure_threshold,
        cooldown_seconds=cooldown_seconds,
        on_change=lambda state: CIRCUIT_IS_OPEN.set(0 if state == CircuitState.CLOSED else 1),
    )


def _remote_failure(status: int | None) -> bool:
    """What says MercadoPago itself is unwell (a 4xx says our request was wrong: it is up; a 429
    says it is up and busy with us, which no open circuit would help)."""
    return status is None or status >= 500 or status == 408


class MercadoPagoActivities:
    def __init__(
        self,
        sdk: mercadopago.SDK,
        *,
        timeout_seconds: float,
        back_urls: dict[str, str | None],
        breaker: CircuitBreaker | None = None,
        unknown_recheck_after_seconds: float = 600.0,
    ) -> None:
        self._sdk = sdk
        # told to the payment workflow with a 404: how long it waits before it reads that id again
        self._unknown_recheck_after = float(unknown_recheck_after_seconds)
        self._breaker = breaker or mercadopago_breaker(0, 1.0)  # none given: never opens
        self._timeout = float(timeout_seconds)  # the SDK refuses an int
        self._back_urls = {k: v for k, v in back_urls.items() if v}

    def _options(self, idempotency_key: str | None = None) -> RequestOptions:
        # replaces the random key the SDK would put on every call
        headers = {"x-idempotency-key": idempotency_key} if idempotency_key else None
        return RequestOptions(connection_timeout=self._timeout, custom_headers=headers, max_retries=0)

    def _call(self, operation: str, call):
        try:
            trial = self._breaker.acquire()
        except CircuitOpen as exc:
            SHORT_CIRCUITED.labels(operation=operation).inc()
            # come back once the cool-down is over (spread out, so the trial call is not a stampede)
            retry_in = exc.retry_in + random.uniform(0, self._breaker.cooldown_seconds / 2)
            raise ApplicationError(
                f"MercadoPago {operation}: not called, {exc}",
                type=CIRCUIT_OPEN,
                next_retry_delay=timedelta(seconds=max(0.1, retry_in)),
            ) from None
        started = time.perf_counter()
        try:
            result = call()
        except requests.RequestException as exc:
            self._breaker.record_failure()
            business_metrics.mercadopago_call(operation, None, time.perf_counter() - started)
            # timeouts and refused connections: retryable, Temporal backs off
            raise ApplicationError(
                f"MercadoPago {operation}: {type(exc).__name__}", type="MercadoPagoUnavailable"
            ) from exc
        except BaseException:
            self._breaker.record_failure()  # e.g. an unreadable answer: still a failed call
            raise
        status, body = result["status"], result["response"]
        business_metrics.mercadopago_call(operation, status, time.perf_counter() - started)
        if status == 429:
            self._breaker.release(trial)
            business_metrics.THROTTLED.labels(operation=operation).inc()
            raise ApplicationError(
                f"MercadoPago {operation} answered 429",
                type=THROTTLED,
                next_retry_delay=_throttled_delay(result.get("retry_after")),
            )
        if _remote_failure(status):
            self._breaker.record_failure()
        else:
            self._breaker.record_success()
        if 200 <= status < 300:
            return body
        message = f"MercadoPago {operation} answered {status}"
        if status == 404:
            # expected (a forged or foreign id: the workflow audits it), so no warning with a
            # traceback per notification: under a flood of them that logging was most of the cost
            raise ApplicationError(
                message, type=PAYMENT_NOT_FOUND, non_retryable=True, category=ApplicationErrorCategory.BENIGN
            )
        if status in (401, 403):
            raise ApplicationError(message, type=UNAUTHORIZED, non_retryable=True)
        if 400 <= status < 500 and status not in (408, 409, 429):
            raise ApplicationError(f"{message}: {_reason(body)}", type=REJECTED_REQUEST, non_retryable=True)
        raise ApplicationError(message, type="MercadoPagoUnavailable")

    @activity.defn(name="mercadopago.create_preference")
    def create_preference(self, request: CreatePreferenceInput) -> PreferenceCreated:
        plan = request.plan
        preference = {
            "items": [
                {
                    "id": plan.code,
                    "title": plan.name,
                    "quantity": 1,
                    "unit_price": _json_number(plan.price),
                    "currency_id": plan.currency,
                }
            ],
            "external_reference": request.external_reference,
            "metadata": {"checkout_id": request.checkout_id, "plan_id": plan.id, "user_id": request.user_id},
            "statement_descriptor": "PAYSAGA",
        }
        if self._back_urls:
            preference["back_urls"] = self._back_urls
            if "success" in self._back_urls:
                preference["auto_return"] = "approved"
        body = self._call(
            "create_preference",
            lambda: self._sdk.preference().create(preference, self._options(request.idempotency_key)),
        )
        return PreferenceCreated(
            preference_id=str(body["id"]),
            init_point=body["init_point"],
            sandbox_init_point=body.get("sandbox_init_point") or body["init_point"],
        )

    @activity.defn(name="mercadopago.get_payment")
    def get_payment(self, mercadopago_payment_id: str) -> PaymentSnapshot:
        """The payment as MercadoPago has it. A 404 is raised with, as its detail, how many
        seconds the caller should wait before it asks about that id again."""
        try:
            body = self._call("get_payment", lambda: self._sdk.payment().get(mercadopago_payment_id, self._options()))
        except ApplicationError as err:
            if err.type != PAYMENT_NOT_FOUND:
                raise
            # anyone can notify any id: counted and logged, not an audited business event
            business_metrics.UNKNOWN_PAYMENTS.inc()
            log.info("MercadoPago does not know payment %s", mercadopago_payment_id)
            raise ApplicationError(
                err.message,
                self._unknown_recheck_after,
                type=PAYMENT_NOT_FOUND,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        return payment_snapshot(body)

    @activity.defn(name="mercadopago.search_payments")
    def search_payments(self, external_reference: str) -> list[PaymentSnapshot]:
        filters = {"external_reference": external_reference, "sort": "date_created", "criteria": "desc", "limit": 50}
        body = self._call("search_payments", lambda: self._sdk.payment().search(filters, self._options()))
        return [payment_snapshot(item) for item in body.get("results", [])]

    @activity.defn(name="mercadopago.search_recent_payments")
    def search_recent_payments(self, window: PaymentWindow) -> list[PaymentSnapshot]:
        """Every payment created in the window, page by page (runs started before reconciliation
        paged through the window itself)."""
        found: list[PaymentSnapshot] = []
        while True:
            page = self.search_payments_page(
                PaymentPageRequest(begin=window.begin, end=window.end, offset=len(found), limit=100)
            )
            found.extend(page.payments)
            if not page.payments or len(found) >= page.total:
                return found

    @activity.defn(name="mercadopago.search_payments_page")
    def search_payments_page(self, request: PaymentPageRequest) -> PaymentPage:
        """One bounded page of the payments created in a window, oldest first: `limit` payments
        from `offset` among those created at or after `begin` (offsets stay small: the caller
        moves `begin` forward instead, as MercadoPago caps how deep an offset may go)."""
        filters = {
            "range": "date_created",
            "begin_date": _mercadopago_time(request.begin),
            "end_date": _mercadopago_time(request.end),
            "sort": "date_created",
            "criteria": "asc",
            "limit": request.limit,
            "offset": request.offset,
        }
        body = self._call("search_payments", lambda: self._sdk.payment().search(filters, self._options()))
        results = body.get("results", [])
        return PaymentPage(
            payments=[payment_snapshot(item) for item in results[: request.limit]],
            total=int(body.get("paging", {}).get("total", 0)),
        )

    @activity.defn(name="mercadopago.refund_payment")
    def refund_payment(self, request: RefundInput) -> RefundResult:
        body = self._call(
            "refund",
            lambda: self._sdk.refund().create(
                request.mercadopago_payment_id, None, self._options(request.idempotency_key)
            ),
        )
        return RefundResult(refund_id=str(body["id"]), amount=_decimal(body.get("amount")))


def payment_snapshot(body: dict) -> PaymentSnapshot:
    return PaymentSnapshot(
        mercadopago_payment_id=str(body["id"]),
        status=from_mercadopago(body["status"]),
        status_detail=body.get("status_detail"),
        external_reference=body.get("external_reference") or None,
        amount=_decimal(body.get("transaction_amount")),
        amount_refunded=_decimal(body.get("transaction_amount_refunded")),
        currency=str(body.get("currency_id") or ""),
        payment_method=body.get("payment_method_id"),
        payment_type=body.get("payment_type_id"),
        created_at=_utc(body.get("date_created")) or datetime.now(UTC),
        approved_at=_utc(body.get("date_approved")),
    )


def _decimal(value) -> Decimal:
    return Decimal("0") if value is None else Decimal(str(value))


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _mercadopago_time(moment: datetime) -> str:
    """MercadoPago's search dates, to the millisecond (a page's cursor is a payment's date_created)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def _throttled_delay(retry_after: str | None) -> timedelta:
    """MercadoPago's Retry-After (seconds) when it sent one, else a default spread out so the
    throttled calls do not all come back at the same moment."""
    try:
        seconds = float(retry_after) if retry_after is not None else None
    except ValueError:
        seconds = None
    if seconds is None or not 0 <= seconds <= 3600:
        seconds = THROTTLED_DEFAULT_DELAY_SECONDS
    return timedelta(seconds=seconds + random.uniform(0, max(1.0, seconds / 2)))


def _json_number(amount: Decimal) -> float:
    """The SDK's JSON encoder knows no Decimal: hand it a float only when that float
    prints back as exactly the same amount (true for any price with a few decimals)."""
    number = float(amount)
    if Decimal(repr(number)) != amount.normalize() and Decimal(repr(number)) != amount:
        raise ApplicationError(f"amount {amount} cannot be sent exactly", type=REJECTED_REQUEST, non_retryable=True)
    return number


def _reason(body) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")[:200]
    return ""
