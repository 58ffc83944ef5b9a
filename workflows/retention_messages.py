"""What the retention workflow and its activities exchange."""

from __future__ import annotations

from pydantic import Field

from workflows.message import Message


class RetentionReport(Message):
    inbox_deleted: int = 0
    audit_deleted: int = 0
    events_deleted: int = 0


class PurgeBatch(Message):
    """Delete at most `limit` rows past their retention; the activity knows the periods.

    As the workflow's input it also says how many batches one run deletes before it continues
    as new, and, in a run that continues an earlier one, where that one stopped and what it
    had deleted so far."""

    limit: int = Field(default=1000, ge=1)
    batches_per_run: int = Field(default=500, ge=1)
    resume_at: int = 0  # index of the table the previous run was purging
    carried: RetentionReport = RetentionReport()


class PurgeResult(Message):
    deleted: int
    more: bool  # a full batch: there may be more to delete
