"""Delivering the outbox: one EventDeliveryWorkflow per user, kicked whenever events are recorded.

Per user, because that is the ordering unit: events go out one at a time in outbox order, each
to every configured endpoint, each endpoint retried with backoff (activity retries, so a long
outage adds nothing to the history) until the policy's window closes. Then the event is
PARKED and the user's later events wait behind it, keeping the order, until an operator
redelivers it; other users are unaffected. The workflow reads what to send from the outbox
itself, so a kick only says "look again". A lost kick only delays: a running workflow reads the
outbox once more before it ends idle, and the sweep (a Schedule, every EVENT_SWEEP_INTERVAL)
starts one for every user with pending events that has none running.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.events import DeliveryStatus
    from workflows import activity_options as options
    from workflows.event_messages import (
        DeliverEvent,
        DeliveryPolicy,
        EventDeliveryInput,
        ParkEvent,
        PendingBatch,
        PendingQuery,
    )

SWEEP_SCHEDULE_ID = "paysaga-event-sweep"
SWEEP_WORKFLOW_ID = "event-sweep"
# raised by the deliver activity when retrying cannot help (the event row is gone)
EVENT_GONE = "EventGone"


def event_delivery_workflow_id(user_id: int) -> str:
    return f"events-user-{user_id}"


def delivery_options(policy: DeliveryPolicy) -> dict:
    initial = timedelta(seconds=policy.initial_interval_seconds)
    return dict(
        start_to_close_timeout=timedelta(seconds=policy.attempt_timeout_seconds + 5),
        schedule_to_close_timeout=timedelta(seconds=policy.give_up_after_seconds),
        retry_policy=RetryPolicy(
            initial_interval=initial,
            backoff_coefficient=2.0,
            maximum_interval=max(initial, timedelta(seconds=policy.max_interval_seconds)),
            non_retryable_error_types=[EVENT_GONE],
        ),
    )


@workflow.defn
class EventDeliveryWorkflow:
    @workflow.init
    def __init__(self, input: EventDeliveryInput) -> None:
        self._kicks = 0

    @workflow.signal
    def kick(self) -> None:
        """New events were recorded for this user (or one was set to be redelivered)."""
        self._kicks += 1

    @workflow.run
    async def run(self, input: EventDeliveryInput) -> None:
        delivered = 0
        idle_expired = False
        while True:
            self._kicks = 0  # a kick from here on means: look again after this batch
            batch = await workflow.execute_local_activity(
                "events.next_for_user",
                PendingQuery(user_id=input.user_id),
                result_type=PendingBatch,
                **options.STORE,
            )
            progressed = False
            for event in batch.events:
                if event.status != DeliveryStatus.PENDING or not batch.endpoints:
                    break  # parked (the rest waits behind it, in order), or nowhere to send
                if not await self._deliver(event.event_id, batch.endpoints, input.policy):
                    break
                delivered += 1
                progressed = True
            if delivered >= input.continue_as_new_after or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input)
            if progressed:
                idle_expired = False
                continue  # there may be more than one batch
            if idle_expired:
                return  # idle, and the outbox read once more after the wait: no lost kick strands an event
            try:
                await workflow.wait_condition(lambda: self._kicks > 0, timeout=timedelta(seconds=input.idle_seconds))
                idle_expired = False
            except TimeoutError:
                idle_expired = True

    async def _deliver(self, event_id: int, endpoints: list[str], policy: DeliveryPolicy) -> bool:
        """Every endpoint acknowledges the event, or it is parked. True when delivered."""
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "events.deliver", DeliverEvent(event_id=event_id, endpoint=endpoint), **delivery_options(policy)
                )
                for endpoint in endpoints
            ),
            return_exceptions=True,
        )
        failures = []
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, ActivityError):
                    raise result  # cancellation or a bug: not a delivery failure
                failures.append(result)
        if failures:
            await workflow.execute_local_activity(
                "events.park", ParkEvent(event_id=event_id, reason=_reason(failures[0])), **options.STORE
            )
            return False
        await workflow.execute_local_activity("events.mark_delivered", event_id, **options.STORE)
        return True


@workflow.defn
class EventSweepWorkflow:
    """Run by a Schedule: a delivery workflow for every user whose events wait, whatever kick was lost."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(
            "events.kick_pending",
            result_type=int,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


def _reason(failure: ActivityError) -> str:
    """The chain of causes, outermost first: e.g. the timeout and the last HTTP answer."""
    parts: list[str] = []
    error: BaseException | None = failure.cause or failure
    while error is not None and len(parts) < 4:
        parts.append(str(error) or type(error).__name__)
        error = error.__cause__
    return "gave up: " + " <- ".join(parts)
