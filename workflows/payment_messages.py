"""What the payment workflow takes and is signalled with (notify), and what it hands to a checkout."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from workflows.checkout_messages import PaymentObserved
from workflows.message import Message


class PaymentInput(Message):
    # "pending_hints" is the name recorded in histories: the JSON keeps it
    model_config = ConfigDict(frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    mercadopago_payment_id: str
    idle_seconds: float
    # notifications that arrived before a continue-as-new, still to be read for
    pending_notifications: int = Field(0, alias="pending_hints")


class PaymentNotification(Message):
    topic: str
    action: str | None = None
    request_id: str | None = None


class PaymentForCheckout(Message):
    """A payment handed by its payment workflow to the checkout it belongs to."""

    checkout_id: str
    observed: PaymentObserved
