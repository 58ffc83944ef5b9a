"""The webhook inbox: every delivery recorded best-effort, never delaying or failing the answer.

The notification's safety comes from Temporal (it is relayed before we answer 200); this
record is for operators, so a slow or absent database only costs the record.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from store.models import WebhookEventRow

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
    def __init__(self, session_factory: async_sessionmaker, write_timeout: float = 5.0) -> None:
        self._session_factory = session_factory
        self._write_timeout = write_timeout
        self._pending: set[asyncio.Task] = set()

    def record(self, entry: InboxEntry) -> asyncio.Task:
        """Start writing the entry; it finishes (or gives up) on its own."""
        task = asyncio.create_task(self._write(entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _write(self, entry: InboxEntry) -> None:
        try:
            async with asyncio.timeout(self._write_timeout):
                async with self._session_factory() as session:
                    session.add(entry.to_row())
                    await session.commit()
        except Exception as exc:
            log.warning("webhook inbox write failed (%s: %s); outcome was %s",
                        type(exc).__name__, exc, entry.outcome)

    async def drain(self, timeout: float) -> None:
        """On shutdown: let in-flight records finish, briefly."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
