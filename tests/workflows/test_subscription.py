"""The subscription owns the paid time: each payment buys one period once, its timer ends it, and
a cancel closes it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from domain.plans import Plan
from domain.statuses import SubscriptionStatus
from tests.support.waiting import eventually
from tests.workflows.saga import MONTHLY, TWO_SECONDS, Saga, new_payment_id, new_user_id
from workflows.ids import subscription_workflow_id
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_messages import ApplyPayment, CancelSubscription, SubscriptionInput, SubscriptionView


async def apply(
    saga: Saga, user_id: int, plan: Plan, payment_id: str, renewal_lead_seconds: float = 0
) -> SubscriptionView:
    """A payment applied as the checkout applies it: update-with-start on the user's subscription."""
    return await saga.client.execute_update_with_start_workflow(
        SubscriptionWorkflow.apply_payment,
        ApplyPayment(user_id=user_id, mercadopago_payment_id=payment_id, plan=plan, approved_at=datetime.now(UTC)),
        start_workflow_operation=WithStartWorkflowOperation(
            SubscriptionWorkflow.run,
            SubscriptionInput(user_id=user_id, renewal_reminder_lead_seconds=renewal_lead_seconds),
            id=subscription_workflow_id(user_id),
            task_queue=saga.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        ),
    )


async def test_a_payment_applied_twice_buys_one_period(saga: Saga):
    user_id, payment_id = new_user_id(), new_payment_id()

    first = await apply(saga, user_id, MONTHLY, payment_id)
    again = await apply(saga, user_id, MONTHLY, payment_id)

    assert (first.outcome, first.status) == ("APPLIED", SubscriptionStatus.ACTIVE)
    assert (again.outcome, again.end_date) == ("DUPLICATE", first.end_date)
    assert saga.store.subscription_events(user_id) == ["subscription.activated"]


async def test_the_paid_time_ends_on_its_timer_after_a_renewal_reminder(saga: Saga):
    user_id = new_user_id()

    view = await apply(saga, user_id, TWO_SECONDS, new_payment_id(), renewal_lead_seconds=1)
    assert view.status == SubscriptionStatus.ACTIVE

    async def expired():
        return saga.store.subscription_events(user_id)[-1] == "subscription.expired"

    await eventually(expired, timeout=10, what="the subscription expires at the end of its period")
    assert saga.store.subscription_events(user_id) == [
        "subscription.activated",
        "subscription.renewal_due",
        "subscription.expired",
    ]
    assert saga.store.subscriptions[-1].status == SubscriptionStatus.EXPIRED
    assert (await saga.subscription(user_id).query(SubscriptionWorkflow.view)).status == SubscriptionStatus.EXPIRED


async def test_a_cancel_closes_the_paid_time_once(saga: Saga):
    user_id = new_user_id()
    await apply(saga, user_id, MONTHLY, new_payment_id())
    subscription = saga.subscription(user_id)

    with pytest.raises(WorkflowUpdateFailedError):  # refused: another user's request
        await subscription.execute_update(
            SubscriptionWorkflow.cancel, CancelSubscription(user_id=user_id + 1, requested_by="someone-else")
        )
    cancelled = await subscription.execute_update(
        SubscriptionWorkflow.cancel, CancelSubscription(user_id=user_id, requested_by=f"user:{user_id}")
    )
    again = await subscription.execute_update(
        SubscriptionWorkflow.cancel, CancelSubscription(user_id=user_id, requested_by=f"user:{user_id}")
    )

    assert (cancelled.outcome, cancelled.status) == ("CANCELLED", SubscriptionStatus.CANCELLED)
    assert (again.outcome, again.status) == ("CANCELLED", SubscriptionStatus.CANCELLED)
    assert saga.store.subscription_events(user_id) == ["subscription.activated", "subscription.cancelled"]
    assert saga.store.subscriptions[-1].event_detail == {"requestedBy": f"user:{user_id}"}
