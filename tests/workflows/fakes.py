"""In-memory stand-ins for the activities that leave the worker: MercadoPago and the read model.

They are registered under the real activity names, so the real workflows call them unchanged.
Each records what it was asked, and a test decides what MercadoPago answers.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.mercadopago import PAYMENT_NOT_FOUND
from domain.gateway import CreatePreferenceInput, PaymentSnapshot, PreferenceCreated, RefundInput, RefundResult
from domain.plans import Plan
from domain.statuses import PaymentStatus, merge_status
from store.records import AuditRecord, CheckoutRecord, CheckoutRef, PaymentRecord, StoredPayment, SubscriptionRecord


@dataclass
class FakeMercadoPago:
    """Payments MercadoPago knows, set by the test; a read of any other id is a 404."""

    payments: dict[str, PaymentSnapshot] = field(default_factory=dict)
    unknown_recheck_after_seconds: float = 1.0
    preferences: list[CreatePreferenceInput] = field(default_factory=list)
    reads: list[tuple[str, float]] = field(default_factory=list)  # (payment id, monotonic time)
    searches: list[str] = field(default_factory=list)
    refunds: list[RefundInput] = field(default_factory=list)

    def serve(self, snapshot: PaymentSnapshot) -> None:
        self.payments[snapshot.mercadopago_payment_id] = snapshot

    def reads_of(self, mercadopago_payment_id: str) -> list[float]:
        return [at for payment_id, at in self.reads if payment_id == mercadopago_payment_id]

    def activities(self) -> list:
        return [self.create_preference, self.get_payment, self.search_payments, self.refund_payment]

    @activity.defn(name="mercadopago.create_preference")
    async def create_preference(self, request: CreatePreferenceInput) -> PreferenceCreated:
        self.preferences.append(request)
        url = f"https://mercadopago.test/checkout?pref_id=pref-{request.checkout_id}"
        return PreferenceCreated(preference_id=f"pref-{request.checkout_id}", init_point=url, sandbox_init_point=url)

    @activity.defn(name="mercadopago.get_payment")
    async def get_payment(self, mercadopago_payment_id: str) -> PaymentSnapshot:
        self.reads.append((mercadopago_payment_id, time.monotonic()))
        snapshot = self.payments.get(mercadopago_payment_id)
        if snapshot is None:
            # as the gateway answers a 404: not retryable, with the back-off as its detail
            raise ApplicationError(
                f"MercadoPago does not know payment {mercadopago_payment_id}",
                self.unknown_recheck_after_seconds,
                type=PAYMENT_NOT_FOUND,
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            )
        return snapshot

    @activity.defn(name="mercadopago.search_payments")
    async def search_payments(self, external_reference: str) -> list[PaymentSnapshot]:
        self.searches.append(external_reference)
        return [p for p in self.payments.values() if p.external_reference == external_reference]

    @activity.defn(name="mercadopago.refund_payment")
    async def refund_payment(self, request: RefundInput) -> RefundResult:
        self.refunds.append(request)
        refunded = self.payments[request.mercadopago_payment_id]
        return RefundResult(refund_id=f"refund-{len(self.refunds)}", amount=refunded.amount)


@dataclass
class FakeStore:
    """The read model as the workflows see it: every write kept, in order."""

    plans: dict[int, Plan] = field(default_factory=dict)
    checkouts: list[CheckoutRecord] = field(default_factory=list)
    payments: dict[str, StoredPayment] = field(default_factory=dict)
    subscriptions: list[SubscriptionRecord] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    _payment_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def checkout_statuses(self, checkout_id: str) -> list[str]:
        return [str(c.status) for c in self.checkouts if c.checkout_id == checkout_id]

    def subscription_events(self, user_id: int) -> list[str | None]:
        return [s.event for s in self.subscriptions if s.user_id == user_id]

    def audit_actions(self, mercadopago_payment_id: str | None = None) -> list[str]:
        return [
            a.action
            for a in self.audits
            if mercadopago_payment_id is None or a.mercadopago_payment_id == mercadopago_payment_id
        ]

    def activities(self) -> list:
        return [
            self.save_checkout,
            self.find_checkout,
            self.get_plan,
            self.save_payment,
            self.save_subscription,
            self.record_audit,
        ]

    @activity.defn(name="store.save_checkout")
    async def save_checkout(self, record: CheckoutRecord) -> None:
        self.checkouts.append(record)

    @activity.defn(name="store.find_checkout")
    async def find_checkout(self, external_reference: str) -> CheckoutRef | None:
        for saved in self.checkouts:
            if saved.external_reference == external_reference:
                return CheckoutRef(checkout_id=saved.checkout_id, user_id=saved.user_id, plan_id=saved.plan_id)
        return None

    @activity.defn(name="store.get_plan")
    async def get_plan(self, plan_id: int) -> Plan | None:
        return self.plans.get(plan_id)

    @activity.defn(name="store.save_payment")
    async def save_payment(self, record: PaymentRecord) -> StoredPayment:
        payment_id = record.payment.mercadopago_payment_id
        before = self.payments.get(payment_id)
        status = merge_status(before.status if before else None, record.payment.status)
        stored = StoredPayment(
            payment_id=before.payment_id if before else next(self._payment_ids),
            status=status,
            changed=before is None or before.status != status,
        )
        self.payments[payment_id] = stored
        return stored

    @activity.defn(name="store.save_subscription")
    async def save_subscription(self, record: SubscriptionRecord) -> int:
        self.subscriptions.append(record)
        return 1000 + record.user_id

    @activity.defn(name="store.record_audit")
    async def record_audit(self, record: AuditRecord) -> None:
        # append-only, as the real table: a repeated record is left as it was
        if all(a.dedup_key != record.dedup_key for a in self.audits):
            self.audits.append(record)


def payment(
    mercadopago_payment_id: str,
    external_reference: str,
    status: PaymentStatus,
    amount: Decimal,
    currency: str = "ARS",
) -> PaymentSnapshot:
    now = datetime.now(UTC)
    return PaymentSnapshot(
        mercadopago_payment_id=mercadopago_payment_id,
        status=status,
        external_reference=external_reference,
        amount=amount,
        currency=currency,
        created_at=now,
        approved_at=now if status == PaymentStatus.APPROVED else None,
    )
