"""ReconciliationWorkflow: run daily by a Schedule, it catches what notifications missed.

MercadoPago's payments of the last window are compared with the read model; every payment
missing from it, or whose status there lags behind MercadoPago's, is audited as drift and
handed to its routing workflow, which reads it back and applies it like any notification.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.statuses import PaymentStatus, merge_status
    from workflows import activity_options as options
    from workflows.messages import PaymentHint, PaymentSnapshot, PaymentWindow, ReconcileInput, ReconcileReport
    from workflows.settlement import audit

SCHEDULE_ID = "paysaga-daily-reconciliation"


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileReport:
        end = workflow.now()
        found = await workflow.execute_activity(
            "mercadopago.search_recent_payments",
            PaymentWindow(begin=end - timedelta(hours=input.window_hours), end=end),
            result_type=list[PaymentSnapshot],
            **options.MERCADOPAGO,
        )
        stored = await workflow.execute_local_activity(
            "store.payment_statuses", [p.mercadopago_payment_id for p in found],
            result_type=dict[str, PaymentStatus], **options.STORE,
        )
        drifted: list[str] = []
        for payment in found:
            ours = stored.get(payment.mercadopago_payment_id)
            if ours is not None and merge_status(ours, payment.status) == ours:
                continue  # in step (or ahead: statuses only move forward)
            reason = "missing" if ours is None else f"{ours}->{payment.status}"
            await audit("reconciliation.drift", None, payment.mercadopago_payment_id, payment.external_reference,
                        {"drift": reason})
            await workflow.execute_activity(
                "routing.hint_payment",
                PaymentHint(mercadopago_payment_id=payment.mercadopago_payment_id, reason=reason),
                **options.SUBSCRIPTION,
            )
            drifted.append(payment.mercadopago_payment_id)
        return ReconcileReport(checked=len(found), drifted=drifted)
