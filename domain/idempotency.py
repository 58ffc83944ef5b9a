"""Deterministic idempotency keys: the same operation sends the same key on every retry."""

from __future__ import annotations

import hashlib

MAX_KEY_LENGTH = 64  # MercadoPago accepts 1-64 characters


def idempotency_key(scope: str, operation: str) -> str:
    key = f"{scope}:{operation}"
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return hashlib.sha256(key.encode()).hexdigest()[:MAX_KEY_LENGTH]
