"""Signals sent from inside sagas: a payment hint to its payment workflow (reconciliation), and
a payment read back to its checkout."""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.ids import checkout_workflow_id
from workflows.payment_messages import PaymentForCheckout, PaymentNotification
from workflows.reconciliation_messages import PaymentHint
from workflows.starters import notify_payment_workflow


class RoutingActivities:
    def __init__(self, client: Client, task_queue: str, idle_seconds: float) -> None:
        self._client = client
        self._task_queue = task_queue
        self._idle_seconds = idle_seconds

    @activity.defn(name="routing.hint_payment")
    async def hint_payment(self, hint: PaymentHint) -> None:
        await notify_payment_workflow(
            self._client,
            task_queue=self._task_queue,
            mercadopago_payment_id=hint.mercadopago_payment_id,
            idle_seconds=self._idle_seconds,
            notification=PaymentNotification(topic="reconciliation", action=hint.reason),
        )

    @activity.defn(name="routing.hint_payments")
    async def hint_payments(self, hints: list[PaymentHint]) -> None:
        """A page of hints at once (a few at a time: each is one call to Temporal). Retried
        whole: a repeated hint only makes its payment be read once more."""
        gate = asyncio.Semaphore(8)

        async def one(hint: PaymentHint) -> None:
            async with gate:
                await self.hint_payment(hint)

        await asyncio.gather(*(one(hint) for hint in hints))

    @activity.defn(name="routing.hand_to_checkout")
    async def hand_to_checkout(self, handed: PaymentForCheckout) -> bool:
        """Signal the checkout; False when it has closed (the payment is then the payment workflow's to
        settle). A repeated signal is harmless: the checkout acts once per payment and status."""
        handle = self._client.get_workflow_handle(checkout_workflow_id(handed.checkout_id))
        try:
            await handle.signal("payment_observed", handed.observed)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
