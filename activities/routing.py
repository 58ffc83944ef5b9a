"""Handing a payment hint to its routing workflow from inside a saga (reconciliation)."""
from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from workflows.messages import PaymentHint, PaymentNotification
from workflows.starters import relay_payment_hint


class RoutingActivities:
    def __init__(self, client: Client, task_queue: str, idle_seconds: float) -> None:
        self._client = client
        self._task_queue = task_queue
        self._idle_seconds = idle_seconds

    @activity.defn(name="routing.hint_payment")
    async def hint_payment(self, hint: PaymentHint) -> None:
        await relay_payment_hint(
            self._client,
            task_queue=self._task_queue,
            mercadopago_payment_id=hint.mercadopago_payment_id,
            idle_seconds=self._idle_seconds,
            notification=PaymentNotification(topic="reconciliation", action=hint.reason),
        )
