"""RetentionWorkflow: run by a Schedule, it deletes what the read model no longer needs to keep.

Webhook inbox rows go after RETENTION_DAYS, audit rows after the longer AUDIT_RETENTION_DAYS,
delivered events after RETENTION_DAYS. Deleting by age is the only way an audit row ever
leaves the log: nothing updates it. Deletes go in bounded batches (short transactions, no long
locks), and a run goes on until nothing past its age is left, however much was written since
the last one: every `batches_per_run` batches it continues as new (a bounded history), carrying
where it was and what it deleted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import patches
    from workflows.retention_messages import PurgeBatch, PurgeResult, RetentionReport

SCHEDULE_ID = "paysaga-retention"
# runs started before a run purged everything: at most this many batches per table
_MAX_BATCHES = 100
# (activity, the report's counter), in the order a run purges them
_TABLES = (
    ("retention.purge_inbox", "inbox_deleted"),
    ("retention.purge_audit", "audit_deleted"),
    ("retention.purge_events", "events_deleted"),
)
_PURGE: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, batch: PurgeBatch) -> RetentionReport:
        if workflow.patched(patches.RETENTION_UNTIL_DONE.id):
            return await self._purge_until_done(batch)
        inbox = await self._purge_capped("retention.purge_inbox", batch)
        audit = await self._purge_capped("retention.purge_audit", batch)
        return RetentionReport(inbox_deleted=inbox, audit_deleted=audit)

    async def _purge_until_done(self, batch: PurgeBatch) -> RetentionReport:
        deleted = batch.carried.model_dump()
        one_batch = PurgeBatch(limit=batch.limit)
        batches = 0
        for index in range(batch.resume_at, len(_TABLES)):
            activity, counter = _TABLES[index]
            more = True
            while more:
                if batches >= batch.batches_per_run or workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(
                        batch.model_copy(update={"resume_at": index, "carried": RetentionReport(**deleted)})
                    )
                result = await workflow.execute_activity(activity, one_batch, result_type=PurgeResult, **_PURGE)
                batches += 1
                deleted[counter] += result.deleted
                more = result.more
        return RetentionReport(**deleted)

    async def _purge_capped(self, activity: str, batch: PurgeBatch) -> int:
        deleted = 0
        for _ in range(_MAX_BATCHES):
            result = await workflow.execute_activity(activity, batch, result_type=PurgeResult, **_PURGE)
            deleted += result.deleted
            if not result.more:
                break
        return deleted
