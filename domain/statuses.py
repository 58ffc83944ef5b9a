"""Payment and checkout statuses, and the rule that status only moves forward."""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    IN_MEDIATION = "IN_MEDIATION"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    CHARGED_BACK = "CHARGED_BACK"


class CheckoutStatus(StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"


class SubscriptionStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


_FROM_MERCADOPAGO = {
    "pending": PaymentStatus.PENDING,
    "approved": PaymentStatus.APPROVED,
    "authorized": PaymentStatus.APPROVED,
    "in_process": PaymentStatus.PENDING,
    "in_mediation": PaymentStatus.IN_MEDIATION,
    "rejected": PaymentStatus.REJECTED,
    "cancelled": PaymentStatus.CANCELLED,
    "refunded": PaymentStatus.REFUNDED,
    "charged_back": PaymentStatus.CHARGED_BACK,
}

# Higher rank wins when two observations of one payment disagree: a late "pending"
# never undoes "approved", and refunds or charge-backs always win.
_RANK = {
    PaymentStatus.PENDING: 0,
    PaymentStatus.REJECTED: 1,
    PaymentStatus.CANCELLED: 1,
    PaymentStatus.APPROVED: 2,
    PaymentStatus.IN_MEDIATION: 3,
    PaymentStatus.REFUNDED: 4,
    PaymentStatus.CHARGED_BACK: 5,
}

REVERSING = frozenset({PaymentStatus.REFUNDED, PaymentStatus.CHARGED_BACK})


def from_mercadopago(status: str) -> PaymentStatus:
    try:
        return _FROM_MERCADOPAGO[status.lower()]
    except KeyError:
        raise ValueError(f"unknown MercadoPago payment status: {status!r}") from None


def merge_status(current: PaymentStatus | None, observed: PaymentStatus) -> PaymentStatus:
    """The status to keep after observing `observed` (monotonic)."""
    if current is None or _RANK[observed] >= _RANK[current]:
        return observed
    return current
