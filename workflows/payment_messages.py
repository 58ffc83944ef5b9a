"""What the payment workflow takes and is signalled with, and what it hands to a checkout."""

from __future__ import annotations

from workflows.checkout_messages import PaymentObserved
from workflows.message import Message


class PaymentRouterInput(Message):
    mercadopago_payment_id: str
    idle_seconds: float
    pending_hints: int = 0  # hints that arrived before a continue-as-new, still to be read for


class PaymentNotification(Message):
    topic: str
    action: str | None = None
    request_id: str | None = None


class PaymentForCheckout(Message):
    """A payment handed by its payment workflow to the checkout it belongs to."""

    checkout_id: str
    observed: PaymentObserved
