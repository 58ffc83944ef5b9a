"""Reaching a user's SubscriptionWorkflow from another workflow.

Workflows cannot signal-with-start, so this activity does update-with-start: it starts the
user's subscription if needed and returns once the change is applied (or found to be a
duplicate). Retrying it is safe: the subscription de-duplicates by payment id.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from telemetry import business_metrics
from workflows.ids import subscription_workflow_id
from workflows.search_attributes import subscription_search_attributes
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_messages import ApplyPayment, ReversePayment, SubscriptionInput, SubscriptionView


class SubscriptionActivities:
    def __init__(
        self,
        client: Client,
        task_queue: str,
        continue_as_new_after: int,
        renewal_reminder_lead_seconds: float | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._continue_as_new_after = continue_as_new_after
        # RENEWAL_REMINDER_LEAD; None keeps SubscriptionInput's default
        self._renewal_lead = (
            {}
            if renewal_reminder_lead_seconds is None
            else {"renewal_reminder_lead_seconds": renewal_reminder_lead_seconds}
        )

    def _start(self, user_id: int) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            SubscriptionWorkflow.run,
            SubscriptionInput(user_id=user_id, continue_as_new_after=self._continue_as_new_after, **self._renewal_lead),
            id=subscription_workflow_id(user_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=subscription_search_attributes(user_id),
            static_summary=f"Subscription of user {user_id}: the ledger of paid periods",
        )

    @activity.defn(name="subscription.apply_payment")
    async def apply_payment(self, request: ApplyPayment) -> SubscriptionView:
        view = await self._client.execute_update_with_start_workflow(
            SubscriptionWorkflow.apply_payment, request, start_workflow_operation=self._start(request.user_id)
        )
        if view.outcome == "APPLIED":  # a retry gets DUPLICATE: observed once
            business_metrics.payment_applied(request.approved_at)
        return view

    @activity.defn(name="subscription.reverse_payment")
    async def reverse_payment(self, request: ReversePayment) -> SubscriptionView:
        return await self._client.execute_update_with_start_workflow(
            SubscriptionWorkflow.reverse_payment, request, start_workflow_operation=self._start(request.user_id)
        )
