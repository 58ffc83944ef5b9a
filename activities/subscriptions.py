"""Reaching a user's SubscriptionWorkflow from another workflow.

Workflows cannot signal-with-start, so this activity does update-with-start: it starts the
user's subscription if needed and returns once the change is applied (or found to be a
duplicate). Retrying it is safe: the subscription de-duplicates by payment id.
"""
from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from workflows.ids import subscription_workflow_id
from workflows.messages import ApplyPayment, ReversePayment, SubscriptionInput, SubscriptionView
from workflows.search_attributes import subscription_search_attributes
from workflows.subscription import SubscriptionWorkflow


class SubscriptionActivities:
    def __init__(self, client: Client, task_queue: str, continue_as_new_after: int) -> None:
        self._client = client
        self._task_queue = task_queue
        self._continue_as_new_after = continue_as_new_after

    def _start(self, user_id: int) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            SubscriptionWorkflow.run,
            SubscriptionInput(user_id=user_id, continue_as_new_after=self._continue_as_new_after),
            id=subscription_workflow_id(user_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=subscription_search_attributes(user_id),
        )

    @activity.defn(name="subscription.apply_payment")
    async def apply_payment(self, request: ApplyPayment) -> SubscriptionView:
        return await self._client.execute_update_with_start_workflow(
            SubscriptionWorkflow.apply_payment, request, start_workflow_operation=self._start(request.user_id)
        )

    @activity.defn(name="subscription.reverse_payment")
    async def reverse_payment(self, request: ReversePayment) -> SubscriptionView:
        return await self._client.execute_update_with_start_workflow(
            SubscriptionWorkflow.reverse_payment, request, start_workflow_operation=self._start(request.user_id)
        )
