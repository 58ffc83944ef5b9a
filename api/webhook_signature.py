"""MercadoPago webhook signatures: the official SDK validator plus a replay window on `ts`."""
from __future__ import annotations

import time
from typing import Callable

from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator

# `ts` is documented in milliseconds but also arrives in seconds; above this it must be ms.
_MILLISECONDS_FROM = 10**11


class SignatureRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_signature(
    x_signature: str | None,
    x_request_id: str | None,
    data_id: str | None,
    secret: str,
    tolerance_seconds: int = 0,
    now: Callable[[], float] = time.time,
) -> None:
    """Raise SignatureRejected unless the delivery was signed with our secret (and is recent).

    `data_id` must be exactly the query string's `data.id`: the manifest is built from it.
    """
    try:
        # the SDK's own tolerance assumes seconds; ours below accepts both units
        WebhookSignatureValidator.validate(x_signature, x_request_id, data_id, secret)
    except InvalidWebhookSignatureError as exc:
        raise SignatureRejected(exc.reason.value) from None
    except (ValueError, UnicodeError):  # e.g. text that cannot be encoded into the manifest
        raise SignatureRejected("MalformedSignatureHeader") from None
    except TypeError:  # a non-ASCII v1: hmac.compare_digest refuses to compare it
        raise SignatureRejected("SignatureMismatch") from None
    if tolerance_seconds > 0:
        sent_at = signature_seconds(x_signature or "")
        if sent_at is None or abs(now() - sent_at) > tolerance_seconds:
            raise SignatureRejected("TimestampOutOfTolerance")


def signature_seconds(x_signature: str) -> float | None:
    """The `ts` of an `x-signature` header in seconds, whichever unit it was sent in."""
    for part in x_signature.split(","):
        key, _, value = part.partition("=")
        value = value.strip()
        # ASCII digits only: "²".isdigit() holds, but int("²") raises
        if key.strip().lower() == "ts" and value.isascii() and value.isdigit():
            ts = int(value)
            return ts / 1000 if ts > _MILLISECONDS_FROM else float(ts)
    return None
