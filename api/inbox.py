"""The webhook inbox: every delivery recorded best-effort, never delaying or failing the answer.

The notification's safety comes from Temporal (it is relayed before we answer 200); this
record is for operators, so a slow or absent database only costs the record.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from store.models import WebhookEventRow, utcnow

log = logging.getLogger("paysaga.api.inbox")


@dataclass
class InboxEntry:
    topic: str | None
    action: str | None
    resource_id: str | None
    request_id: str | None
    signature_valid: bool
    outcome: str  # accepted / ignored / rejected / unavailable
    detail: str | None = None

    def to_row(self) -> WebhookEventRow:
        # clip to the columns' widths: a hostile query string must not make the insert fail
        return WebhookEventRow(
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
    so a burst of deliveries costs a few transactions (and turns of SQLite's write lock), not one each."""

    def __init__(self, session_factory: async_sessionmaker, write_timeout: float = 5.0,
                 max_batch: int = 500) -> None:
        self._session_factory = session_factory
        self._write_timeout = write_timeout
        self._max_batch = max_batch
        self._queue: list[tuple[WebhookEventRow, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    def record(self, entry: InboxEntry) -> asyncio.Future:
        """Queue the entry; the future is done once it is written (or given up), on its own."""
        row = entry.to_row()
        row.received_at = utcnow()  # when it arrived, not when its batch was written
        done = asyncio.get_running_loop().create_future()
        self._queue.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        return done

    async def _write_queued(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
            await self._write([row for row, _ in batch])
            for _, done in batch:
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
            log.warning("webhook inbox write of %d record(s) failed (%s: %s); outcomes were %s",
                        len(rows), type(exc).__name__, exc, outcomes)

    async def drain(self, timeout: float) -> None:
        """On shutdown: let queued records be written, briefly."""
        if self._writer is not None and not self._writer.done():
            await asyncio.wait({self._writer}, timeout=timeout)
