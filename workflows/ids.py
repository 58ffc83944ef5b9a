"""Workflow ids: one checkout per purchase, one payment workflow per MercadoPago payment, one subscription per user."""

from __future__ import annotations

import uuid

# Namespace for checkout ids derived from a client's Idempotency-Key.
_CHECKOUT_NAMESPACE = uuid.UUID("8a6f2d0e-5c1b-4f7a-9e3d-2b4c6a8e0f11")


def checkout_id_for(user_id: int, idempotency_key: str | None) -> str:
    """The same (user, key) always names the same checkout; no key, a fresh one."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return uuid.uuid5(_CHECKOUT_NAMESPACE, f"{user_id}:{idempotency_key}").hex


def checkout_workflow_id(checkout_id: str) -> str:
    return f"checkout-{checkout_id}"


def payment_workflow_id(mercadopago_payment_id: str) -> str:
    return f"payment-{mercadopago_payment_id}"


def subscription_workflow_id(user_id: int) -> str:
    return f"subscription-user-{user_id}"
