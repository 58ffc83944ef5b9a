"""Business metrics of the worker (prometheus-client), served with the Temporal SDK's metrics.

Recorded only from activities, never from workflow code: a replayed workflow would count
twice. Each is recorded where the fact becomes durable exactly once (a new audit record, a
status that actually changed in the read model), so activity retries do not double count.
Known label values are created at zero: a series that appears at its first increment hides
that increment from rate() and from alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from domain.statuses import PaymentStatus

REGISTRY = CollectorRegistry(auto_describe=True)

PAYMENTS = Counter(
    "paysaga_payments",
    "Payments reaching a status in the read model (every forward move counts once)",
    ["status"],
    registry=REGISTRY,
)
ACTIVATIONS = Counter("paysaga_subscription_activations", "Subscriptions activated by a payment", registry=REGISTRY)
EXTENSIONS = Counter("paysaga_subscription_extensions", "Active subscriptions extended by a payment", registry=REGISTRY)
EXPIRATIONS = Counter("paysaga_subscription_expirations", "Subscriptions whose paid time ran out", registry=REGISTRY)
CANCELLATIONS = Counter(
    "paysaga_subscription_cancellations", "Subscriptions cancelled by their user", registry=REGISTRY
)
REVOCATIONS = Counter(
    "paysaga_subscription_revocations",
    "Periods taken back because their payment was refunded or charged back",
    registry=REGISTRY,
)
COMPENSATIONS = Counter(
    "paysaga_compensations",
    "Refunds we issued ourselves (amount mismatch, activation failure), by outcome",
    ["reason", "outcome"],
    registry=REGISTRY,
)
RECONCILIATION_DRIFT = Counter(
    "paysaga_reconciliation_drift",
    "Payments that notifications had not brought in, or not up to date, found by a reconciliation",
    ["source"],
    registry=REGISTRY,
)
CHECKOUT_TO_ACTIVATION = Histogram(
    "paysaga_checkout_to_activation_seconds",
    "From the checkout's start to its payment applied (includes the buyer)",
    registry=REGISTRY,
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400),
)
PAYMENT_TO_ACTIVATION = Histogram(
    "paysaga_payment_to_activation_seconds",
    "From MercadoPago's approval of a payment to its period applied",
    registry=REGISTRY,
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400),
)
MERCADOPAGO_CALLS = Histogram(
    "paysaga_mercadopago_request_duration_seconds",
    "Calls to MercadoPago's API by operation and outcome",
    ["operation", "outcome"],
    registry=REGISTRY,
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
# MercadoPago answers that are neither business events nor outages
UNKNOWN_PAYMENTS = Counter(
    "paysaga_mercadopago_unknown_payments",
    "Payment reads MercadoPago answered 404 (a forged, foreign or not yet visible id): counted, not audited",
    registry=REGISTRY,
)
THROTTLED = Counter(
    "paysaga_mercadopago_throttled",
    "Calls MercadoPago answered 429: retried later, not counted against its health",
    ["operation"],
    registry=REGISTRY,
)
# The daily reconciliation: when it last completed, and the runs that failed
RECONCILIATION_LAST_SUCCESS = Gauge(
    "paysaga_reconciliation_last_success_timestamp_seconds",
    "Unix time at which a reconciliation run last completed (0: none since this worker started)",
    registry=REGISTRY,
)
RECONCILIATION_LAST_CHECKED = Gauge(
    "paysaga_reconciliation_last_checked_payments",
    "Payments compared by the last completed reconciliation run",
    registry=REGISTRY,
)
RECONCILIATION_FAILURES = Counter(
    "paysaga_reconciliation_failures",
    "Reconciliation runs that gave up before checking their whole window",
    registry=REGISTRY,
)

MERCADOPAGO_OPERATIONS = ("create_preference", "get_payment", "search_payments", "refund")
MERCADOPAGO_OUTCOMES = ("ok", "not_found", "unauthorized", "rejected", "server_error", "unavailable")
COMPENSATION_REASONS = ("amount_mismatch", "activation_failed")

_SUBSCRIPTION_ACTIONS = {
    "subscription.activated": ACTIVATIONS,
    "subscription.extended": EXTENSIONS,
    "subscription.expired": EXPIRATIONS,
    "subscription.cancelled": CANCELLATIONS,
    "subscription.revoked": REVOCATIONS,
}


def _initialise() -> None:
    for status in PaymentStatus:
        PAYMENTS.labels(status=status.value)
    for reason in COMPENSATION_REASONS:
        for outcome in ("refunded", "failed"):
            COMPENSATIONS.labels(reason=reason, outcome=outcome)
    for source in ("schedule", "checkout_deadline"):
        RECONCILIATION_DRIFT.labels(source=source)
    for operation in MERCADOPAGO_OPERATIONS:
        THROTTLED.labels(operation=operation)
        for outcome in MERCADOPAGO_OUTCOMES:
            MERCADOPAGO_CALLS.labels(operation=operation, outcome=outcome)


_initialise()


def audited(action: str, detail: dict[str, str] | None) -> None:
    """A new audit record (written once per decision, whatever the retries) counted by its action."""
    detail = detail or {}
    counter = _SUBSCRIPTION_ACTIONS.get(action)
    if counter is not None:
        counter.inc()
    elif action == "payment.refunded_by_us":
        COMPENSATIONS.labels(reason=detail.get("reason", "other"), outcome="refunded").inc()
    elif action == "payment.refund_failed":
        COMPENSATIONS.labels(reason=detail.get("reason", "other"), outcome="failed").inc()
    elif action == "reconciliation.drift":
        RECONCILIATION_DRIFT.labels(source="schedule").inc()


def payment_saved(status: str, changed: bool, caller_workflow_type: str | None) -> None:
    """A payment written to the read model. Only its payment workflow writes what a notification
    brought; a change written by a checkout (its search at the deadline) is one the notifications
    missed."""
    if not changed:
        return
    PAYMENTS.labels(status=str(status)).inc()
    if caller_workflow_type == "CheckoutWorkflow":
        RECONCILIATION_DRIFT.labels(source="checkout_deadline").inc()


def _seconds_since(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((datetime.now(UTC) - moment).total_seconds(), 0.0)


def checkout_completed(started_at: datetime) -> None:
    CHECKOUT_TO_ACTIVATION.observe(_seconds_since(started_at))


def payment_applied(approved_at: datetime) -> None:
    PAYMENT_TO_ACTIVATION.observe(_seconds_since(approved_at))


def mercadopago_outcome(status: int | None) -> str:
    """The outcome label of an answer's HTTP status; None: no answer at all."""
    if status is None:
        return "unavailable"
    if 200 <= status < 300:
        return "ok"
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "unauthorized"
    if status == 429:
        return "throttled"  # back-pressure, not an error of MercadoPago's or ours
    if 400 <= status < 500 and status not in (408, 409):
        return "rejected"
    return "server_error"


def mercadopago_call(operation: str, status: int | None, seconds: float) -> None:
    MERCADOPAGO_CALLS.labels(operation=operation, outcome=mercadopago_outcome(status)).observe(seconds)


def reconciliation_succeeded(checked: int) -> None:
    RECONCILIATION_LAST_SUCCESS.set(datetime.now(UTC).timestamp())
    RECONCILIATION_LAST_CHECKED.set(checked)


def reconciliation_failed() -> None:
    RECONCILIATION_FAILURES.inc()
