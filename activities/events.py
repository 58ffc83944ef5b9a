"""Event delivery, as activities: read the user's outbox, POST one signed event to one endpoint,
and record how delivery went. Each POST is one attempt; Temporal retries it with backoff."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

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
# bytes of a consumer's answer read before the connection is dropped (its status is what counts)
RESPONSE_BODY_LIMIT = 4096


class EventActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        endpoints: list[str],
        secret: str,
        timeout_seconds: float,
        kicker: EventKicker | None = None,
    ) -> None:
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
            raise ApplicationError(
                f"event {request.event_id} is not in the outbox", type=EVENT_GONE, non_retryable=True
            )
        body = event_body(row.id, row.type, row.occurred_at, row.data)
        # signed now, not when recorded: a retry hours later still passes the consumer's tolerance
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, HEADER: sign(self._secret, body)}
        error = await self._post(request.endpoint, body, headers)
        # what is stored, served by GET /api/events and kept in the workflow's history names the
        # endpoint by position and host only: its path or query may carry the consumer's token
        where = endpoint_label(request.endpoint, self._endpoints)
        await self._count_attempt(request.event_id, None if error is None else f"{where}: {error}")
        if error is not None:
            # retryable: the endpoint may be down for a while; the policy's window decides when to stop
            raise ApplicationError(f"{where} did not take event {row.id}: {error}", type="DeliveryFailed")

    async def _post(self, endpoint: str, body: bytes, headers: dict[str, str]) -> str | None:
        """One attempt, bounded in time as a whole; None when the consumer acknowledged it,
        else the status code or the exception's class (never its text, which may quote the URL)."""
        try:
            async with asyncio.timeout(self._timeout):
                # a client per attempt: nothing to close at shutdown, no pooled connection to a dead peer
                async with (
                    httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as http,
                    http.stream("POST", endpoint, content=body, headers=headers) as response,
                ):
                    await _discard_body(response)
        except TimeoutError:
            return "Timeout"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}"
        return None

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


async def _discard_body(response: httpx.Response) -> None:
    """Read at most RESPONSE_BODY_LIMIT bytes of the consumer's answer, keep none of them: only
    the status matters, and a consumer answering without end must not hold the worker."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen >= RESPONSE_BODY_LIMIT:
            break


def endpoint_label(endpoint: str, configured: list[str]) -> str:
    """`endpoint 2 (hooks.example.com)`: which configured endpoint, without path or query."""
    host = urlsplit(endpoint).hostname or "unknown host"
    if endpoint in configured:
        return f"endpoint {configured.index(endpoint) + 1} ({host})"
    return f"endpoint ({host})"
