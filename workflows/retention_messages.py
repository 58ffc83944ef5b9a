"""What the retention workflow and its activities exchange."""
from __future__ import annotations

from workflows.messages import Message


class PurgeBatch(Message):
    """Delete at most `limit` rows past their retention; the activity knows the periods."""
    limit: int = 1000


class PurgeResult(Message):
    deleted: int
    more: bool  # a full batch: there may be more to delete


class RetentionReport(Message):
    inbox_deleted: int = 0
    audit_deleted: int = 0
