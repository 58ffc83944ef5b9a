"""An event as consumers receive it: `{"id", "type", "occurredAt", "data"}`, one canonical JSON.

The body is rendered from the stored event the same way on every attempt, so a redelivery
carries the same bytes (and the same `id`) as the first one; only the signature's `t` changes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain.events import wire_time


def event_document(event_id: int | str, type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(event_id), "type": str(type), "occurredAt": wire_time(occurred_at), "data": data}


def event_body(event_id: int | str, type: str, occurred_at: datetime, data: dict[str, Any]) -> bytes:
    document = event_document(event_id, type, occurred_at, data)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
