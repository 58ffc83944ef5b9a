"""x-signature exactly as MercadoPago computes it, so receivers can use the official validator."""

from __future__ import annotations

import hashlib
import hmac


def manifest(data_id: str | None, request_id: str | None, ts: str) -> str:
    """`id:<data.id>;request-id:<x-request-id>;ts:<ts>;` with absent pairs left out."""
    parts = [f"id:{data_id}"] if data_id else []
    if request_id:
        parts.append(f"request-id:{request_id}")
    parts.append(f"ts:{ts}")
    return ";".join(parts) + ";"


def signature_header(secret: str, data_id: str | None, request_id: str | None, ts_ms: int) -> str:
    """The x-signature value: `ts=<unix ms>,v1=<hex HMAC-SHA256(secret, manifest)>`."""
    digest = hmac.new(secret.encode(), manifest(data_id, request_id, str(ts_ms)).encode(), hashlib.sha256)
    return f"ts={ts_ms},v1={digest.hexdigest()}"
