"""Kicking users' EventDeliveryWorkflows (signal-with-start) from the worker and the API, and
the sweep Schedule that starts them where a kick was lost.

A kick only says "look at the outbox again", so kicking too often is harmless and a lost kick
only delays delivery; no caller ever fails because of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import WorkflowIDConflictPolicy

from config.settings import Settings
from workflows.event_delivery import (
    SWEEP_SCHEDULE_ID,
    SWEEP_WORKFLOW_ID,
    EventDeliveryWorkflow,
    EventSweepWorkflow,
    event_delivery_workflow_id,
)
from workflows.event_messages import DeliveryPolicy, EventDeliveryInput
from workflows.search_attributes import subscription_search_attributes

log = logging.getLogger("paysaga.events")

# signal-with-start calls in flight at once when many users are kicked (the sweep)
_CONCURRENCY = 16
_QUIET_TIMEOUT_SECONDS = 5.0


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        initial_interval_seconds=settings.event_retry_initial_interval.total_seconds(),
        max_interval_seconds=settings.event_retry_max_interval.total_seconds(),
        attempt_timeout_seconds=settings.event_delivery_timeout_seconds,
        give_up_after_seconds=settings.event_delivery_give_up_after.total_seconds(),
    )


class EventKicker:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._task_queue = settings.temporal_task_queue
        self._policy = delivery_policy(settings)
        self._idle_seconds = settings.event_delivery_idle.total_seconds()
        # with no endpoint configured events only wait in the outbox (and `GET /api/events`)
        self.enabled = bool(settings.event_webhook_url_list)

    async def kick(self, user_ids: Iterable[int]) -> None:
        """Signal-with-start each user's delivery workflow; raises when Temporal cannot be reached."""
        await self._start_each(user_ids, start_signal="kick")

    async def ensure_running(self, user_ids: Iterable[int]) -> None:
        """Start a delivery workflow for each user that has none running; a running one is left
        alone (it reads the outbox before it ends), so the sweep adds nothing to its history."""
        await self._start_each(user_ids, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)

    async def _start_each(self, user_ids: Iterable[int], **how) -> None:
        if not self.enabled:
            return
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def one(user_id: int) -> None:
            async with limit:
                await self._client.start_workflow(
                    EventDeliveryWorkflow.run,
                    EventDeliveryInput(user_id=user_id, policy=self._policy, idle_seconds=self._idle_seconds),
                    id=event_delivery_workflow_id(user_id),
                    task_queue=self._task_queue,
                    search_attributes=subscription_search_attributes(user_id),
                    **how,
                )

        await asyncio.gather(*(one(user_id) for user_id in sorted(set(user_ids))))

    async def kick_quietly(self, user_ids: Iterable[int]) -> bool:
        """Kick, but never fail the caller: its change is committed, the sweep will catch up."""
        user_ids = set(user_ids)
        if not user_ids or not self.enabled:
            return True
        try:
            await asyncio.wait_for(self.kick(user_ids), _QUIET_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - any failure here is only a delay
            log.warning("could not kick event delivery for users %s (the sweep will): %s", sorted(user_ids), exc)
            return False
        return True


def _sweep_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            EventSweepWorkflow.run, id=SWEEP_WORKFLOW_ID, task_queue=settings.temporal_task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=settings.event_sweep_interval)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_sweep_schedule(client: Client, settings: Settings) -> None:
    """The backstop that re-kicks delivery every EVENT_SWEEP_INTERVAL (kept at the configured interval)."""
    schedule = _sweep_schedule(settings)
    try:
        await client.create_schedule(SWEEP_SCHEDULE_ID, schedule)
        log.info("created schedule %s", SWEEP_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SWEEP_SCHEDULE_ID).update(lambda _: ScheduleUpdate(schedule=schedule))
