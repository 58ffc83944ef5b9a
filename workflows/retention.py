"""RetentionWorkflow: run by a Schedule, it deletes what the read model no longer needs to keep.

Webhook inbox rows go after RETENTION_DAYS, audit rows after the longer AUDIT_RETENTION_DAYS.
Deleting by age is the only way an audit row ever leaves the log: nothing updates it. Deletes
go in bounded batches (short transactions, no long locks); a run stops after `_MAX_BATCHES`
per table and the next scheduled run carries on.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.retention_messages import PurgeBatch, PurgeResult, RetentionReport

SCHEDULE_ID = "paysaga-retention"
_MAX_BATCHES = 100
_PURGE = dict(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, batch: PurgeBatch) -> RetentionReport:
        inbox = await self._purge("retention.purge_inbox", batch)
        audit = await self._purge("retention.purge_audit", batch)
        return RetentionReport(inbox_deleted=inbox, audit_deleted=audit)

    async def _purge(self, activity: str, batch: PurgeBatch) -> int:
        deleted = 0
        for _ in range(_MAX_BATCHES):
            result = await workflow.execute_activity(activity, batch, result_type=PurgeResult, **_PURGE)
            deleted += result.deleted
            if not result.more:
                break
        return deleted
