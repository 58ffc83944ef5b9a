"""The audit log, as the workflows write it: one append-only record per decision."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from store.records import AuditRecord
    from workflows import activity_options as options


async def audit(
    action: str,
    user_id: int | None,
    payment_id: str | None,
    external_reference: str | None,
    detail: dict[str, str] | None = None,
) -> None:
    """An append-only record of a decision; one per (workflow, action, payment)."""
    await workflow.execute_local_activity(
        "store.record_audit",
        AuditRecord(
            dedup_key=f"{workflow.info().workflow_id}:{action}:{payment_id or '-'}",
            actor=workflow.info().workflow_id,
            action=action,
            user_id=user_id,
            mercadopago_payment_id=payment_id,
            external_reference=external_reference,
            detail=detail or {},
        ),
        **options.STORE,
    )
