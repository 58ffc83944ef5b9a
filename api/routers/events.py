"""The outbox for operators and pulling consumers (admin only): list events in order, and send
them again. Delivery state is shown with each event; PARKED ones block their user's later events
until redelivered."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from sqlalchemy import select, update

from api.deps import SessionDep, SettingsDep, UserDep
from api.errors import ApiError
from api.ids import INT64_MAX, Int64
from api.schemas import Body
from domain.events import DeliveryStatus, EventType
from events.dispatch import EventKicker
from store.models import EventRow

router = APIRouter(prefix="/api/events", tags=["events"])


class EventOut(Body):
    """The event as consumers receive it (`id`, `type`, `occurredAt`, `data`) plus its delivery."""

    id: str
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    user_id: int
    delivery_status: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: EventRow) -> EventOut:
        return cls(
            id=str(row.id),
            type=row.type,
            occurred_at=row.occurred_at,
            data=row.data,
            user_id=row.user_id,
            delivery_status=row.delivery_status,
            attempts=row.attempts,
            last_error=_without_url_paths(row.last_error),
            delivered_at=row.delivered_at,
        )


_URL = re.compile(r"https?://\S+")


def _without_url_paths(error: str | None) -> str | None:
    """Errors recorded by earlier versions quote whole endpoint URLs, whose path or query may
    carry a consumer's token: shown with scheme and host only."""
    if not error:
        return error

    def host_only(match: re.Match) -> str:
        url = match.group(0)
        trailing = ":" if url.endswith(":") else ""
        parts = urlsplit(url.rstrip(":"))
        return f"{parts.scheme}://{parts.hostname or 'unknown host'}{trailing}"

    return _URL.sub(host_only, error)


class RedeliveryOut(Body):
    redelivered: int
    users: int
    message: str


def _require_admin(user) -> None:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "events are visible to admins only")


@router.get("", response_model=list[EventOut])
async def list_events(
    user: UserDep,
    session: SessionDep,
    after: int = Query(0, ge=0, le=INT64_MAX, description="the last id already seen; ids only grow"),
    limit: int = Query(100, ge=1, le=1000),
    userId: Int64 | None = Query(None),
    type: EventType | None = Query(None),
    deliveryStatus: DeliveryStatus | None = Query(None),
) -> list[EventOut]:
    _require_admin(user)
    query = select(EventRow).where(EventRow.id > after)
    if userId is not None:
        query = query.where(EventRow.user_id == userId)
    if type is not None:
        query = query.where(EventRow.type == type.value)
    if deliveryStatus is not None:
        query = query.where(EventRow.delivery_status == deliveryStatus.value)
    rows = (await session.scalars(query.order_by(EventRow.id).limit(limit))).all()
    return [EventOut.of(row) for row in rows]


def _kicker(request: Request, settings) -> EventKicker:
    return EventKicker(request.app.state.temporal, settings)


_QUEUED = "queued for delivery; the user's events go out in order"
_SWEEP = "queued; delivery starts with the next sweep (the workflow service did not answer now)"


@router.post("/redeliver-parked", response_model=RedeliveryOut, status_code=202)
async def redeliver_parked(
    request: Request, user: UserDep, session: SessionDep, settings: SettingsDep
) -> RedeliveryOut:
    """Every PARKED event back to PENDING (e.g. once a consumer that was down for days is back)."""
    _require_admin(user)
    owners = (
        await session.scalars(
            update(EventRow)
            .where(EventRow.delivery_status == DeliveryStatus.PARKED.value)
            .values(delivery_status=DeliveryStatus.PENDING.value)
            .returning(EventRow.user_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    await session.commit()
    count, users = len(owners), set(owners)
    kicked = await _kicker(request, settings).kick_quietly(users)
    return RedeliveryOut(redelivered=count, users=len(users), message=_QUEUED if kicked else _SWEEP)


@router.post("/{eventId}/redeliver", response_model=EventOut, status_code=202)
async def redeliver(
    eventId: Int64, request: Request, user: UserDep, session: SessionDep, settings: SettingsDep
) -> EventOut:
    """Send one event again (parked, or delivered and wanted once more); same id, same body."""
    _require_admin(user)
    row = await session.get(EventRow, eventId)
    if row is None:
        raise ApiError(404, "event_not_found", f"event {eventId} does not exist")
    row.delivery_status = DeliveryStatus.PENDING.value
    row.delivered_at = None
    await session.commit()
    await _kicker(request, settings).kick_quietly({row.user_id})
    return EventOut.of(row)
