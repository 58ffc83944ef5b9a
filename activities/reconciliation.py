"""What the reconciliation tells the operators: when a run last completed, and the runs that
failed. Run as local activities of its workflow (metrics are never recorded from workflow code:
a replay would record them again)."""

from __future__ import annotations

from temporalio import activity

from telemetry import business_metrics
from workflows.reconciliation_messages import ReconcileReport


@activity.defn(name="reconciliation.succeeded")
async def succeeded(report: ReconcileReport) -> None:
    business_metrics.reconciliation_succeeded(report.checked)
    activity.logger.info(
        "reconciliation completed: %d payments checked, %d drifted",
        report.checked,
        report.drifted_count or len(report.drifted),
    )


@activity.defn(name="reconciliation.failed")
async def failed() -> None:
    business_metrics.reconciliation_failed()
    activity.logger.warning("reconciliation gave up before checking its whole window")
