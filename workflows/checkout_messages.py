"""What the checkout workflow takes, answers and is signalled with.

Payer personal data never travels here: only MercadoPago ids, statuses and amounts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from domain.gateway import PaymentSnapshot
from domain.plans import Plan
from domain.statuses import CheckoutStatus, PaymentStatus
from store.records import StoredPayment
from workflows.message import Message


class CheckoutInput(Message):
    checkout_id: str
    user_id: int
    plan: Plan
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
    """A payment as read back from MercadoPago by its payment workflow (never the notification)."""

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


class CheckoutOutcome(Message):
    checkout_id: str
    status: CheckoutStatus
    mercadopago_payment_id: str | None = None
