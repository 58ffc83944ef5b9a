"""What workflows, activities and the API exchange. Pure pydantic models: ids, statuses, money.

Payer personal data never travels here: only MercadoPago ids, statuses and amounts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.plans import Plan
from domain.statuses import CheckoutStatus, PaymentStatus, SubscriptionStatus


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class PlanSnapshot(Message):
    id: int
    code: str
    name: str
    price: Decimal
    currency: str
    billing_cycle: str

    @classmethod
    def of(cls, plan: Plan) -> PlanSnapshot:
        return cls(
            id=plan.id,
            code=plan.code,
            name=plan.name,
            price=plan.price,
            currency=plan.currency,
            billing_cycle=plan.billing_cycle,
        )

    def to_plan(self) -> Plan:
        return Plan(self.id, self.code, self.name, self.price, self.currency, self.billing_cycle)


# --- checkout -------------------------------------------------------------------------


class CheckoutInput(Message):
    checkout_id: str
    user_id: int
    plan: PlanSnapshot
    external_reference: str
    deadline_seconds: float


class CheckoutRequest(Message):
    """The update that asks a checkout for its preference (the API's call, replayed on retries)."""

    user_id: int
    plan_id: int


class CheckoutCreated(Message):
    checkout_id: str
    preference_id: str
    init_point: str
    sandbox_init_point: str
    external_reference: str
    created_at: datetime
    replayed: bool = False


class PaymentObserved(Message):
    """A payment as read back from MercadoPago by its routing workflow (never the notification)."""

    mercadopago_payment_id: str
    payment_id: int
    status: PaymentStatus
    amount: Decimal
    currency: str
    approved_at: datetime | None

    @classmethod
    def of(cls, snapshot: PaymentSnapshot, stored: StoredPayment) -> PaymentObserved:
        """What MercadoPago said, with the status as the read model keeps it (monotonic)."""
        return cls(
            mercadopago_payment_id=snapshot.mercadopago_payment_id,
            payment_id=stored.payment_id,
            status=stored.status,
            amount=snapshot.amount,
            currency=snapshot.currency,
            approved_at=snapshot.approved_at,
        )


class PaymentForCheckout(Message):
    """A payment handed by its routing workflow to the checkout it belongs to."""

    checkout_id: str
    observed: PaymentObserved


class CheckoutOutcome(Message):
    checkout_id: str
    status: CheckoutStatus
    mercadopago_payment_id: str | None = None


# --- payment routing -------------------------------------------------------------------


class PaymentRouterInput(Message):
    mercadopago_payment_id: str
    idle_seconds: float
    pending_hints: int = 0  # hints that arrived before a continue-as-new, still to be read for


class PaymentNotification(Message):
    topic: str
    action: str | None = None
    request_id: str | None = None


# --- MercadoPago gateway ----------------------------------------------------------------


class CreatePreferenceInput(Message):
    checkout_id: str
    external_reference: str
    user_id: int
    plan: PlanSnapshot
    idempotency_key: str


class PreferenceCreated(Message):
    preference_id: str
    init_point: str
    sandbox_init_point: str


class PaymentSnapshot(Message):
    mercadopago_payment_id: str
    status: PaymentStatus
    status_detail: str | None = None
    external_reference: str | None = None
    amount: Decimal
    amount_refunded: Decimal = Decimal("0")
    currency: str
    payment_method: str | None = None
    payment_type: str | None = None
    created_at: datetime
    approved_at: datetime | None = None


class RefundInput(Message):
    mercadopago_payment_id: str
    idempotency_key: str


class RefundResult(Message):
    refund_id: str
    amount: Decimal


# --- read model ------------------------------------------------------------------------


class CheckoutRecord(Message):
    checkout_id: str
    external_reference: str
    user_id: int
    plan_id: int
    amount: Decimal
    currency: str
    status: CheckoutStatus
    created_at: datetime
    preference_id: str | None = None
    init_point: str | None = None
    sandbox_init_point: str | None = None
    mercadopago_payment_id: str | None = None


class CheckoutRef(Message):
    checkout_id: str
    user_id: int
    plan_id: int


class PaymentRecord(Message):
    payment: PaymentSnapshot
    user_id: int | None
    plan_id: int | None


class StoredPayment(Message):
    payment_id: int
    status: PaymentStatus  # after the monotonic merge
    changed: bool


class AuditRecord(Message):
    dedup_key: str
    actor: str
    action: str
    user_id: int | None = None
    mercadopago_payment_id: str | None = None
    external_reference: str | None = None
    detail: dict[str, str] = {}


class LedgerChange(Message):
    mercadopago_payment_id: str
    plan_id: int
    period_start: datetime
    period_end: datetime
    reversed_at: datetime | None = None


class SubscriptionRecord(Message):
    user_id: int
    plan_id: int
    status: SubscriptionStatus
    start_date: datetime | None
    end_date: datetime | None
    version: int
    ledger: list[LedgerChange] = []
    # the subscription.* event this change is, emitted with it (once: the version guards both)
    event: str | None = None
    event_detail: dict[str, str] = {}
    # the audit record of this change, written in the same transaction (one activity, not two)
    audit: AuditRecord | None = None


# --- subscription ----------------------------------------------------------------------


class ApplyPayment(Message):
    user_id: int
    mercadopago_payment_id: str
    plan: PlanSnapshot
    approved_at: datetime


class ReversePayment(Message):
    user_id: int
    mercadopago_payment_id: str
    reason: PaymentStatus


class CancelSubscription(Message):
    user_id: int
    requested_by: str


class SubscriptionView(Message):
    user_id: int
    subscription_id: int | None
    plan_id: int | None
    status: SubscriptionStatus
    start_date: datetime | None
    end_date: datetime | None
    outcome: str = ""  # APPLIED, DUPLICATE, REVERSED, NOTHING_TO_REVERSE, CANCELLED


class LedgerEntryState(Message):
    mercadopago_payment_id: str
    plan_id: int
    billing_cycle: str
    approved_at: datetime
    applied_seq: int
    reversed: bool = False


class SubscriptionState(Message):
    """What a subscription carries across continue-as-new: the whole ledger (for de-duplication)."""

    entries: list[LedgerEntryState] = []
    next_seq: int = 0
    cancelled_after_seq: int = -1
    version: int = 0
    subscription_id: int | None = None
    status: SubscriptionStatus | None = None
    renewal_reminded_for: datetime | None = None  # the period end whose renewal_due was sent


class SubscriptionInput(Message):
    user_id: int
    continue_as_new_after: int = 500
    state: SubscriptionState | None = None
    # subscription.renewal_due goes out this long before the paid time ends; 0: never
    renewal_reminder_lead_seconds: float = 3 * 24 * 3600.0


# --- reconciliation --------------------------------------------------------------------


class ReconcileCursor(Message):
    """Where a reconciliation stands, carried across continue-as-new: the window's fixed end,
    the next page (`offset` payments already seen among those created at or after `begin`),
    and the running totals."""

    end: datetime
    begin: datetime
    offset: int = 0
    checked: int = 0
    drifted: int = 0
    drifted_sample: list[str] = []
    pages: int = 0


class ReconcileInput(Message):
    """Compare MercadoPago's payments of the last `window_hours` with the read model."""

    window_hours: int = 48
    page_size: int = 200  # payments per activity result: far below Temporal's payload limit
    cursor: ReconcileCursor | None = None  # None: a new run, from now back `window_hours`


class PaymentWindow(Message):
    begin: datetime
    end: datetime


class PaymentPageRequest(Message):
    begin: datetime
    end: datetime
    offset: int
    limit: int


class PaymentPage(Message):
    payments: list[PaymentSnapshot]
    total: int  # what MercadoPago counts from `begin` to `end`


class ReconcileReport(Message):
    checked: int
    # MercadoPago payment ids found out of step, and re-routed (the first ones of a large run;
    # every one is in the audit log)
    drifted: list[str] = []
    drifted_count: int | None = None


class PaymentHint(Message):
    mercadopago_payment_id: str
    reason: str
