"""Buyers waiting for their checkout to complete, told by one reader of the read model.

A storefront asks the API once a second per waiting buyer; a long poll on Temporal costs the
server per buyer too. Either way waiting costs more the more buyers wait, on the same two cores
as the system measured. Here one reader asks the database for every waiting checkout at once,
every POLL_SECONDS, so waiting costs the same at 5 buyers as at 80 and a ramp measures what the
system itself sustains.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.database import create_engine
from store.models import CheckoutRow

POLL_SECONDS = 0.1
_ENDED = ("EXPIRED", "REFUNDED")


class CheckoutEnded(Exception):
    """The checkout ended other than COMPLETED."""


class Completions:
    def __init__(self, database_url: str) -> None:
        self._engine: AsyncEngine = create_engine(database_url)
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task | None = None

    async def until_completed(self, checkout_id: str) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())
        done = self._waiting.setdefault(checkout_id, asyncio.get_running_loop().create_future())
        try:
            await done
        finally:
            self._waiting.pop(checkout_id, None)

    async def _read(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self._waiting:
                continue
            ids = list(self._waiting)
            async with self._engine.connect() as connection:
                rows = await connection.execute(
                    select(CheckoutRow.checkout_id, CheckoutRow.status).where(CheckoutRow.checkout_id.in_(ids))
                )
            for checkout_id, status in rows:
                waiter = self._waiting.get(checkout_id)
                if waiter is None or waiter.done():
                    continue
                if status == "COMPLETED":
                    waiter.set_result(None)
                elif status in _ENDED:
                    waiter.set_exception(CheckoutEnded(f"checkout {status}"))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._engine.dispose()
