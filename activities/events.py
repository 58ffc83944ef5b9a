"""Event delivery, as activities: read the user's outbox, POST one signed event to one endpoint,
and record how delivery went. Each POST is one attempt; Temporal retries it with backoff."""
from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.events import DeliveryStatus
from events.dispatch import EventKicker
from events.signature import HEADER, sign
from events.wire import event_body
from store import outbox
from store.models import EventRow, utcnow
from workflows.event_delivery import EVENT_GONE
from workflows.event_messages import DeliverEvent, ParkEvent, PendingBatch, PendingEvent, PendingQuery

USER_AGENT = "paysaga-events/1"
# the sweep kicks at most this many users per run (the rest on the next one)
SWEEP_LIMIT = 1000


class EventActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, endpoints: list[str], secret: str,
                 timeout_seconds: float, kicker: EventKicker | None = None) -> None:
        self._sessions = sessions
        self._endpoints = list(endpoints)
        self._secret = secret
        self._timeout = timeout_seconds
        self._kicker = kicker

    @activity.defn(name="events.next_for_user")
    async def next_for_user(self, query: PendingQuery) -> PendingBatch:
        async with self._sessions() as session:
            rows = await outbox.undelivered_for_user(session, query.user_id, query.limit)
        return PendingBatch(
            events=[PendingEvent(event_id=row.id, status=DeliveryStatus(row.delivery_status)) for row in rows],
            endpoints=self._endpoints,
        )

    @activity.defn(name="events.deliver")
    async def deliver(self, request: DeliverEvent) -> None:
        async with self._sessions() as session:
            row = await session.get(EventRow, request.event_id)
        if row is None:
            raise ApplicationError(f"event {request.event_id} is not in the outbox", type=EVENT_GONE, non_retryable=True)
        body = event_body(row.id, row.type, row.occurred_at, row.data)
        # signed now, not when recorded: a retry hours later still passes the consumer's tolerance
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, HEADER: sign(self._secret, body)}
        error: str | None = None
        try:
            # a client per attempt: nothing to close at shutdown, no pooled connection to a dead peer
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as http:
                response = await http.post(request.endpoint, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        await self._count_attempt(request.event_id, None if error is None else f"{request.endpoint}: {error}")
        if error is not None:
            # retryable: the endpoint may be down for a while; the policy's window decides when to stop
            raise ApplicationError(f"{request.endpoint} did not take event {row.id}: {error}", type="DeliveryFailed")

    async def _count_attempt(self, event_id: int, error: str | None) -> None:
        async with self._sessions() as session, session.begin():
            await outbox.count_attempt(session, event_id, error)

    @activity.defn(name="events.mark_delivered")
    async def mark_delivered(self, event_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await outbox.set_delivery(session, event_id, DeliveryStatus.DELIVERED, delivered_at=utcnow())

    @activity.defn(name="events.park")
    async def park(self, request: ParkEvent) -> None:
        async with self._sessions() as session, session.begin():
            await outbox.set_delivery(session, request.event_id, DeliveryStatus.PARKED, error=request.reason)

    @activity.defn(name="events.kick_pending")
    async def kick_pending(self) -> int:
        """The sweep: a delivery workflow for every user with events waiting (none when no
        endpoint is configured)."""
        if self._kicker is None or not self._kicker.enabled:
            return 0
        async with self._sessions() as session:
            users = await outbox.users_with_pending(session, SWEEP_LIMIT)
        await self._kicker.ensure_running(users)
        return len(users)

    def all(self) -> list:
        """Every activity of this class, for the worker's `activities=` list."""
        return [self.next_for_user, self.deliver, self.mark_delivered, self.park, self.kick_pending]
