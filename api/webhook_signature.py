"""MercadoPago webhook signatures: one strict reading of `x-signature`, the official SDK
validator and a replay window, both fed from that one reading.

The documented header is `ts=<digits>,v1=<64 hex digits>`: parts split on `,`, then on `=`.
Anything else (a repeated or unknown key, an empty part, another case) is refused rather than
guessed at: two readers that pick different `ts` values out of one header would let a captured
delivery through the replay window behind a fresh `ts`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator

# `ts` is documented in milliseconds but also arrives in seconds; above this it must be ms.
_MILLISECONDS_FROM = 10**11
_TS = re.compile(r"[0-9]{1,20}")  # ASCII digits only: "²".isdigit() holds, but int("²") raises
_V1 = re.compile(r"[0-9a-f]{64}")  # a hex SHA-256, as the SDK computes it
MALFORMED = "MalformedSignatureHeader"


class SignatureRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SignatureHeader:
    ts: str
    v1: str

    @property
    def seconds(self) -> float:
        """`ts` in seconds, whichever unit it was sent in."""
        ts = int(self.ts)
        return ts / 1000 if ts > _MILLISECONDS_FROM else float(ts)

    def canonical(self) -> str:
        return f"ts={self.ts},v1={self.v1}"


def parse_signature_header(x_signature: str | None) -> SignatureHeader:
    """The header's `ts` and `v1`, or SignatureRejected unless it has exactly the documented shape
    (spaces around a part are tolerated: MercadoPago may send them)."""
    if x_signature is None or not x_signature.strip():
        raise SignatureRejected("MissingSignatureHeader")
    fields: dict[str, str] = {}
    for part in x_signature.split(","):
        key, separator, value = part.strip(" ").partition("=")
        if not separator or key not in ("ts", "v1") or key in fields:
            raise SignatureRejected(MALFORMED)
        fields[key] = value
    ts, v1 = fields.get("ts"), fields.get("v1")
    if ts is None or v1 is None or not _TS.fullmatch(ts) or not _V1.fullmatch(v1):
        raise SignatureRejected(MALFORMED)
    return SignatureHeader(ts=ts, v1=v1)


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
    header = parse_signature_header(x_signature)
    try:
        # the SDK sees only what was parsed above; its own tolerance assumes seconds, ours below
        # accepts both units
        WebhookSignatureValidator.validate(header.canonical(), x_request_id, data_id, secret)
    except InvalidWebhookSignatureError as exc:
        raise SignatureRejected(exc.reason.value) from None
    except (ValueError, UnicodeError):  # e.g. text that cannot be encoded into the manifest
        raise SignatureRejected(MALFORMED) from None
    if tolerance_seconds > 0 and abs(now() - header.seconds) > tolerance_seconds:
        raise SignatureRejected("TimestampOutOfTolerance")
