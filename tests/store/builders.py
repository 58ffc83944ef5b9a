"""Records as the workflows would send them, with overridable defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.gateway import PaymentSnapshot
from domain.statuses import CheckoutStatus, PaymentStatus, SubscriptionStatus
from store.records import CheckoutRecord, LedgerChange, PaymentRecord, SubscriptionRecord

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def checkout(status: CheckoutStatus = CheckoutStatus.AWAITING_PAYMENT, **overrides) -> CheckoutRecord:
    fields = dict(
        checkout_id="chk-1",
        external_reference="PLAN-2-USER-7-0a1b2c3d",
        user_id=7,
        plan_id=2,
        amount=Decimal("19.99"),
        currency="ARS",
        status=status,
        created_at=T0,
    )
    return CheckoutRecord(**(fields | overrides))


def payment(
    status: PaymentStatus = PaymentStatus.PENDING,
    mp_id: str = "1319000001",
    *,
    user_id: int | None = 7,
    plan_id: int | None = 2,
    **overrides,
) -> PaymentRecord:
    fields = dict(
        mercadopago_payment_id=mp_id,
        status=status,
        status_detail="accredited" if status is PaymentStatus.APPROVED else None,
        external_reference="PLAN-2-USER-7-0a1b2c3d",
        amount=Decimal("19.99"),
        currency="ARS",
        payment_method="visa",
        payment_type="credit_card",
        created_at=T0,
        approved_at=T0 + timedelta(minutes=1) if status is PaymentStatus.APPROVED else None,
    )
    return PaymentRecord(payment=PaymentSnapshot(**(fields | overrides)), user_id=user_id, plan_id=plan_id)


def ledger(mp_id: str = "1319000001", *, days: int = 30, reversed_at: datetime | None = None) -> LedgerChange:
    return LedgerChange(
        mercadopago_payment_id=mp_id,
        plan_id=2,
        period_start=T0,
        period_end=T0 + timedelta(days=days),
        reversed_at=reversed_at,
    )


def subscription(
    version: int,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    *,
    user_id: int = 7,
    days: int = 30,
    ledger_changes: tuple[LedgerChange, ...] = (),
) -> SubscriptionRecord:
    return SubscriptionRecord(
        user_id=user_id,
        plan_id=2,
        status=status,
        start_date=T0,
        end_date=T0 + timedelta(days=days),
        version=version,
        ledger=list(ledger_changes),
    )
