"""The events paysaga tells other systems about, and the keys that make each one happen once.

An event's natural key names the one state change it describes (a payment reaching a status, a
subscription's version, a checkout expiring); recording the same change again finds the key
taken and emits nothing, whatever retries or duplicate notifications happen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from domain.statuses import PaymentStatus


class EventType(StrEnum):
    PAYMENT_APPROVED = "payment.approved"
    PAYMENT_REFUNDED = "payment.refunded"
    PAYMENT_CHARGED_BACK = "payment.charged_back"
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    SUBSCRIPTION_EXTENDED = "subscription.extended"
    SUBSCRIPTION_EXPIRED = "subscription.expired"
    SUBSCRIPTION_CANCELLED = "subscription.cancelled"
    SUBSCRIPTION_REVOKED = "subscription.revoked"
    SUBSCRIPTION_RENEWAL_DUE = "subscription.renewal_due"
    CHECKOUT_EXPIRED = "checkout.expired"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # not yet acknowledged by every endpoint (or waiting for one to exist)
    DELIVERED = "DELIVERED"  # every endpoint answered 2xx
    PARKED = "PARKED"  # gave up after the retry window; the user's later events wait behind it


# The payment statuses other systems hear about, and the event each one is.
PAYMENT_EVENTS = {
    PaymentStatus.APPROVED: EventType.PAYMENT_APPROVED,
    PaymentStatus.REFUNDED: EventType.PAYMENT_REFUNDED,
    PaymentStatus.CHARGED_BACK: EventType.PAYMENT_CHARGED_BACK,
}

SUBSCRIPTION_EVENTS = frozenset(t for t in EventType if t.value.startswith("subscription."))

_CENTS = Decimal("0.01")


def payment_event_key(event: EventType, mercadopago_payment_id: str) -> str:
    return f"{event}:{mercadopago_payment_id}"


def checkout_event_key(event: EventType, checkout_id: str) -> str:
    return f"{event}:{checkout_id}"


def subscription_event_key(event: EventType, user_id: int, version: int) -> str:
    # the workflow's version numbers its changes: one change, one event
    return f"{event}:user-{user_id}:v{version}"


def wire_time(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a `Z`, as the API renders times."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def wire_money(amount: Decimal | None) -> str | None:
    """Money as a decimal string with cents, never a float."""
    return None if amount is None else str(Decimal(amount).quantize(_CENTS))
