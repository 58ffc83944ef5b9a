"""Client-side calls that start or signal paysaga's workflows.

Used by the API and by activities (never inside workflow code), so that every notification
of a payment workflow goes through one function.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from workflows.ids import payment_workflow_id
from workflows.payment import PaymentWorkflow
from workflows.payment_messages import PaymentInput, PaymentNotification


async def notify_payment_workflow(
    client: Client,
    *,
    task_queue: str,
    mercadopago_payment_id: str,
    idle_seconds: float,
    notification: PaymentNotification,
) -> WorkflowHandle:
    """Signal-with-start the payment's workflow: it reads the payment back and acts."""
    return await client.start_workflow(
        PaymentWorkflow.run,
        PaymentInput(mercadopago_payment_id=mercadopago_payment_id, idle_seconds=idle_seconds),
        id=payment_workflow_id(mercadopago_payment_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="notify",
        start_signal_args=[notification],
        static_summary=f"MercadoPago payment {mercadopago_payment_id}: read back, recorded, routed to its checkout",
    )
