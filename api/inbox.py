"""The webhook inbox: deliveries recorded best-effort, never delaying or failing the answer.

The notification's safety comes from Temporal (it is relayed before we answer 200); this
record is for operators, so a slow or absent database only costs the record. Every delivery
Temporal was asked to hold (accepted, or unavailable) is recorded; refused ones (bad signature,
rate-limited, ignored, malformed) are counted by the API's metrics and only sampled here, so
forged traffic cannot fill the table. The queue waiting for the database is bounded: beyond it,
records are dropped and counted, never waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker

from api.rate_limit import TokenBucket
from store.models import WebhookEventRow, utcnow

log = logging.getLogger("paysaga.api.inbox")

# what Temporal was asked to hold: always recorded (an operator looks for these by payment)
_KEPT_OUTCOMES = frozenset({"accepted", "unavailable"})


@dataclass(frozen=True)
class InboxEntry:
    topic: str | None
    action: str | None
    resource_id: str | None
    request_id: str | None
    signature_valid: bool
    outcome: str  # accepted / unavailable / ignored / rejected / rate_limited
    detail: str | None = None

    @property
    def refused(self) -> bool:
        return self.outcome not in _KEPT_OUTCOMES

    def to_row(self, received_at: datetime) -> WebhookEventRow:
        # clip to the columns' widths: a hostile query string must not make the insert fail
        return WebhookEventRow(
            received_at=received_at,
            topic=_clip(self.topic, 64),
            action=_clip(self.action, 64),
            resource_id=_clip(self.resource_id, 64),
            request_id=_clip(self.request_id, 128),
            signature_valid=self.signature_valid,
            outcome=self.outcome,
            detail=_clip(self.detail, 1000),
        )


def _clip(value: str | None, width: int) -> str | None:
    return None if value is None else value[:width]


class WebhookInbox:
    """Group commit: entries that arrive while a write is under way go together in the next one,
    so a burst of deliveries costs a few transactions (and turns of SQLite's write lock), not one each.
    Runs on the event loop only: no locking needed."""

    def __init__(
        self,
        session_factory: async_sessionmaker,
        *,
        max_queued: int = 10_000,
        refused_samples_per_minute: int = 60,
        on_shed: Callable[[str], None] = lambda reason: None,
        write_timeout: float = 5.0,
        max_batch: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session_factory = session_factory
        self._max_queued = max_queued
        self._refused_samples = TokenBucket(refused_samples_per_minute, clock) if refused_samples_per_minute else None
        self._on_shed = on_shed
        self._write_timeout = write_timeout
        self._max_batch = max_batch
        self._queue: deque[tuple[InboxEntry, datetime, asyncio.Future]] = deque()
        self._writer: asyncio.Task | None = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def record(self, entry: InboxEntry) -> asyncio.Future | None:
        """Queue the entry; the future is done once it is written (or given up), on its own.
        None when the entry is dropped: sampled out, or the queue is full."""
        if len(self._queue) >= self._max_queued:
            self._on_shed("queue_full")
            return None
        if entry.refused and (self._refused_samples is None or not self._refused_samples.take()):
            self._on_shed("sampled_out")
            return None
        done = asyncio.get_running_loop().create_future()
        # when it arrived, not when its batch was written
        self._queue.append((entry, utcnow(), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return done

    async def _write_queued(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            await self._write([entry.to_row(received_at) for entry, received_at, _ in batch])
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _write(self, rows: list[WebhookEventRow]) -> None:
        try:
            async with asyncio.timeout(self._write_timeout):
                async with self._session_factory() as session:
                    session.add_all(rows)
                    await session.commit()
        except Exception as exc:
            outcomes = ", ".join(sorted({row.outcome for row in rows}))
            log.warning(
                "webhook inbox write of %d record(s) failed (%s: %s); outcomes were %s",
                len(rows),
                type(exc).__name__,
                exc,
                outcomes,
            )

    async def drain(self, timeout: float) -> None:
        """On shutdown: let queued records be written, briefly."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=timeout)
