"""What the event delivery workflows and their activities exchange: ids, endpoints, policy."""

from __future__ import annotations

from domain.events import DeliveryStatus
from workflows.message import Message


class DeliveryPolicy(Message):
    """How one event is retried at one endpoint before it is parked."""

    initial_interval_seconds: float = 1.0
    max_interval_seconds: float = 600.0
    attempt_timeout_seconds: float = 10.0
    give_up_after_seconds: float = 3 * 24 * 3600.0


class EventDeliveryInput(Message):
    user_id: int
    policy: DeliveryPolicy = DeliveryPolicy()
    idle_seconds: float = 300.0  # ends after this long with nothing to deliver (a kick restarts it)
    continue_as_new_after: int = 200  # events delivered per run


class PendingQuery(Message):
    user_id: int
    limit: int = 50


class PendingEvent(Message):
    event_id: int
    status: DeliveryStatus


class PendingBatch(Message):
    events: list[PendingEvent] = []
    endpoints: list[str] = []  # as the worker is configured now


class DeliverEvent(Message):
    event_id: int
    endpoint: str


class ParkEvent(Message):
    event_id: int
    reason: str
