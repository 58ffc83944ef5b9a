"""The retention Schedule the worker creates: triggered, it purges inbox and audit rows past
their periods (RETENTION_DAYS 90, AUDIT_RETENTION_DAYS five years by default) and delivered
events past RETENTION_DAYS, and keeps the rest (events still owed to a consumer whatever their
age). And one run deletes everything past its age, however many batches that takes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import text

from store.database import create_engine
from store.models import utcnow
from tests.support.waiting import eventually
from workflows.retention import SCHEDULE_ID, RetentionWorkflow
from workflows.retention_messages import PurgeBatch


async def _execute(stack, sql: str, rows: list[dict]) -> None:
    engine = create_engine(stack.config.database)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql), rows)
    finally:
        await engine.dispose()


async def test_the_retention_schedule_purges_what_is_past_its_period(stack):
    tag = uuid.uuid4().hex[:12]
    now = utcnow()
    inbox = [("old", 120), ("young", 30)]
    await _execute(
        stack,
        "INSERT INTO webhook_events (received_at, topic, resource_id, request_id, signature_valid,"
        " outcome) VALUES (:at, 'payment', :rid, :tag, true, 'accepted')",
        [{"at": now - timedelta(days=age), "rid": name, "tag": tag} for name, age in inbox],
    )
    audit = [("old", 2000), ("young", 120)]
    await _execute(
        stack,
        "INSERT INTO audit_log (occurred_at, dedup_key, actor, action, detail)"
        " VALUES (:at, :key, :tag, 'retention.test', '{}')",
        [{"at": now - timedelta(days=age), "key": f"{tag}:{name}", "tag": tag} for name, age in audit],
    )

    events = [
        ("old-delivered", 120, "DELIVERED"),
        ("young-delivered", 30, "DELIVERED"),
        ("old-pending", 120, "PENDING"),
        ("old-parked", 120, "PARKED"),
    ]
    await _execute(
        stack,
        "INSERT INTO events (event_key, type, user_id, occurred_at, data, delivery_status, attempts,"
        " delivered_at) VALUES (:key, 'payment.approved', 990001, :at, '{}', :status, 1, :at)",
        [{"key": f"{tag}:{name}", "at": now - timedelta(days=age), "status": status} for name, age, status in events],
    )

    client = await stack.temporal()
    description = await client.get_schedule_handle(SCHEDULE_ID).describe()
    assert description.schedule.action.workflow == "RetentionWorkflow"
    await client.get_schedule_handle(SCHEDULE_ID).trigger()

    async def purged():
        left = await stack.rows("SELECT resource_id FROM webhook_events WHERE request_id = :tag", tag=tag)
        kept = await stack.rows("SELECT dedup_key FROM audit_log WHERE actor = :tag", tag=tag)
        owed = await stack.rows(
            "SELECT event_key FROM events WHERE event_key LIKE :prefix ORDER BY id", prefix=f"{tag}:%"
        )
        return (left, kept, owed) if len(left) == 1 and len(kept) == 1 and len(owed) == 3 else None

    left, kept, owed = await eventually(purged, timeout=30, what="old inbox, audit and delivered event rows purged")
    assert left == [{"resource_id": "young"}]
    assert kept == [{"dedup_key": f"{tag}:young"}]
    assert [row["event_key"] for row in owed] == [f"{tag}:young-delivered", f"{tag}:old-pending", f"{tag}:old-parked"]


async def test_one_run_deletes_everything_past_its_age_however_much_there_is(stack):
    """More old rows than the 100 batches a run used to stop at (batches of 2 here, to be quick):
    one run deletes them all, continuing as new along the way, and reports every row."""
    tag = uuid.uuid4().hex[:12]
    flood = 260  # 130 batches of 2
    old = utcnow() - timedelta(days=120)
    await _execute(
        stack,
        "INSERT INTO webhook_events (received_at, topic, resource_id, request_id, signature_valid,"
        " outcome) VALUES (:at, 'payment', :rid, :tag, true, 'accepted')",
        [{"at": old, "rid": str(n), "tag": tag} for n in range(flood)],
    )
    await _execute(
        stack,
        "INSERT INTO events (event_key, type, user_id, occurred_at, data, delivery_status, attempts,"
        " delivered_at) VALUES (:key, 'payment.approved', 990002, :at, '{}', 'DELIVERED', 1, :at)",
        [{"key": f"{tag}:{n}", "at": old} for n in range(7)],
    )

    client = await stack.temporal()
    task_queue = (await client.get_schedule_handle(SCHEDULE_ID).describe()).schedule.action.task_queue
    handle = await client.start_workflow(
        RetentionWorkflow.run,
        PurgeBatch(limit=2, batches_per_run=40),
        id=f"retention-flood-{tag}",
        task_queue=task_queue,
    )
    report = await asyncio.wait_for(handle.result(), 120)

    left = await stack.rows("SELECT count(*) AS n FROM webhook_events WHERE request_id = :tag", tag=tag)
    events_left = await stack.rows("SELECT count(*) AS n FROM events WHERE event_key LIKE :prefix", prefix=f"{tag}:%")
    assert left == [{"n": 0}] and events_left == [{"n": 0}]
    # counted across the continued runs (other tests' old rows may be in it too)
    assert report.inbox_deleted >= flood and report.events_deleted >= 7
    # 130 and more batches in runs of 40: the first run continued as new
    first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    last_event = (await first_run.fetch_history()).events[-1]
    assert last_event.HasField("workflow_execution_continued_as_new_event_attributes")
