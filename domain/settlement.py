"""What to do with a payment read back from MercadoPago, given the plan it was for."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from domain.plans import Plan
from domain.statuses import REVERSING, PaymentStatus


class Action(StrEnum):
    APPLY = "APPLY"  # approved and paid in full: buys one period
    REFUND_MISMATCH = "REFUND_MISMATCH"  # approved but not the plan's price or currency
    REVERSE = "REVERSE"  # refunded or charged back: take back what it bought
    WAIT = "WAIT"  # pending, in process, in mediation: nothing to do yet
    RETRY_ALLOWED = "RETRY_ALLOWED"  # rejected or cancelled: the buyer may try again


def amount_matches(plan: Plan, amount: Decimal, currency: str) -> bool:
    return currency.upper() == plan.currency and amount == plan.price


def decide(plan: Plan, status: PaymentStatus, amount: Decimal, currency: str) -> Action:
    if status in REVERSING:
        return Action.REVERSE
    if status == PaymentStatus.APPROVED:
        return Action.APPLY if amount_matches(plan, amount, currency) else Action.REFUND_MISMATCH
    if status in (PaymentStatus.REJECTED, PaymentStatus.CANCELLED):
        return Action.RETRY_ALLOWED
    return Action.WAIT
