"""Writing events into the outbox, inside the caller's transaction (the change and its event
commit together or not at all), and the delivery bookkeeping the delivery workflow asks for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import DeliveryStatus, EventType
from store.models import EventRow
from store.upsert import insert_if_absent

# One PostgreSQL advisory lock orders every outbox insert: held from before the id is drawn
# until commit, so a reader never sees id N+1 committed while N is still in flight, and
# `after=<id>` paging (and per-user delivery order) can never skip an event.
# SQLite needs nothing: it has one writer at a time.
_OUTBOX_LOCK = 0x70617973_61676131  # "paysaga1"


async def record_event(
    session: AsyncSession, *, key: str, type: EventType, user_id: int, occurred_at: datetime, data: dict[str, Any]
) -> int | None:
    """Add the event unless its key was recorded before; the new id, or None for a repeat.
    Call it last in the transaction: the lock it takes is held until commit."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK})
    return await insert_if_absent(
        session,
        EventRow,
        {
            "event_key": key,
            "type": type.value,
            "user_id": user_id,
            "occurred_at": occurred_at,
            "data": data,
            "delivery_status": DeliveryStatus.PENDING.value,
            "attempts": 0,
        },
        key=["event_key"],
    )


async def undelivered_for_user(session: AsyncSession, user_id: int, limit: int) -> list[EventRow]:
    """The user's events not yet delivered (pending or parked), oldest first."""
    return list(
        await session.scalars(
            select(EventRow)
            .where(EventRow.user_id == user_id, EventRow.delivery_status != DeliveryStatus.DELIVERED.value)
            .order_by(EventRow.id)
            .limit(limit)
        )
    )


async def users_with_pending(session: AsyncSession, limit: int) -> list[int]:
    """Users with an event waiting for delivery and none parked (a parked one blocks them)."""
    parked = select(EventRow.user_id).where(EventRow.delivery_status == DeliveryStatus.PARKED.value)
    rows = await session.scalars(
        select(EventRow.user_id)
        .where(EventRow.delivery_status == DeliveryStatus.PENDING.value, EventRow.user_id.not_in(parked))
        .group_by(EventRow.user_id)
        .order_by(EventRow.user_id)
        .limit(limit)
    )
    return list(rows)


async def set_delivery(
    session: AsyncSession,
    event_id: int,
    status: DeliveryStatus,
    *,
    delivered_at: datetime | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {"delivery_status": status.value}
    if status == DeliveryStatus.DELIVERED:
        values |= {"delivered_at": delivered_at, "last_error": None}
    if error is not None:
        values["last_error"] = error[:1000]
    await session.execute(
        update(EventRow).where(EventRow.id == event_id).values(**values).execution_options(synchronize_session=False)
    )


async def count_attempt(session: AsyncSession, event_id: int, error: str | None) -> None:
    values: dict[str, Any] = {"attempts": EventRow.attempts + 1}
    if error is not None:
        values["last_error"] = error[:1000]
    # only while delivery is under way: an attempt that outlived its workflow's give-up must not
    # overwrite why the event was parked (or reopen a delivered one's error)
    pending = (EventRow.id == event_id) & (EventRow.delivery_status == DeliveryStatus.PENDING.value)
    await session.execute(update(EventRow).where(pending).values(**values).execution_options(synchronize_session=False))
