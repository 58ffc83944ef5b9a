"""What the subscription workflow takes, carries across continue-as-new and answers."""

from __future__ import annotations

from datetime import datetime

from domain.plans import Plan
from domain.statuses import PaymentStatus, SubscriptionStatus
from domain.subscription import LedgerEntry
from workflows.message import Message


class ApplyPayment(Message):
    user_id: int
    mercadopago_payment_id: str
    plan: Plan
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


class SubscriptionState(Message):
    """What a subscription carries across continue-as-new: the whole ledger (for de-duplication)."""

    entries: list[LedgerEntry] = []
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
