"""The `Paysaga-Signature` header: sign an event's raw body, and verify it as a consumer.

    Paysaga-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed with the body, so a captured delivery cannot be replayed later than the
tolerance; several `v1` values may appear (e.g. while a secret is rotated): one must match.
Pure standard library, so a consumer can copy this file as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "Paysaga-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The header is missing or malformed, no signature matches, or the timestamp is too old."""


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute(secret: str | bytes, body: str | bytes, t: int) -> str:
    """The hex `v1` signature of `body` at time `t`."""
    message = str(int(t)).encode("ascii") + b"." + _bytes(body)
    return hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, t: int | None = None) -> str:
    """The header value for `body`, signed at `t` (default: now)."""
    t = int(time.time()) if t is None else int(t)
    return f"t={t},{SCHEME}={compute(secret, body, t)}"


def parse(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, v1 signatures) of a header value; SignatureError when malformed."""
    if not header or not header.strip():
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header: {part.strip()!r} is not key=value")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError(f"malformed {HEADER} header: t must be one unix timestamp in seconds")
            timestamp = int(value)
        elif key == SCHEME:
            signatures.append(value)
        # other schemes are ignored: a newer sender may add them next to v1
    if timestamp is None:
        raise SignatureError(f"malformed {HEADER} header: no t=<timestamp>")
    if not signatures:
        raise SignatureError(f"malformed {HEADER} header: no {SCHEME}=<signature>")
    return timestamp, signatures


def verify(
    secret: str | bytes | Iterable[str | bytes],
    body: str | bytes,
    header: str | None,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a delivery: returns its timestamp, or raises SignatureError saying why not.

    `body` must be the raw request body, byte for byte (not re-serialised JSON). `secret` may be
    a list of secrets, e.g. the new and the old one while rotating. A timestamp further than
    `tolerance_seconds` from `now` (either side) is refused as stale; 0 or less turns that off.
    """
    timestamp, signatures = parse(header)
    if tolerance_seconds > 0:
        now = time.time() if now is None else now
        if abs(now - timestamp) > tolerance_seconds:
            raise SignatureError(
                f"stale signature: signed at t={timestamp}, {int(abs(now - timestamp))}s from now "
                f"(tolerance {tolerance_seconds}s)"
            )
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    if not secrets:
        raise SignatureError("no secret to verify with")
    for candidate in secrets:
        expected = compute(candidate, body, timestamp).encode("ascii")
        # bytes: compare_digest refuses non-ASCII str, and a forged header may carry any
        if any(hmac.compare_digest(expected, given.encode("utf-8", "replace")) for given in signatures):
            return timestamp
    raise SignatureError("signature mismatch: the body was altered or signed with another secret")
