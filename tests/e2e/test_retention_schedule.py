"""The retention Schedule the worker creates: triggered, it purges inbox and audit rows past
their periods (RETENTION_DAYS 90, AUDIT_RETENTION_DAYS five years by default) and keeps the rest."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text

from store.database import create_engine
from store.models import utcnow
from tests.support.waiting import eventually
from workflows.retention import SCHEDULE_ID


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
    await _execute(stack, "INSERT INTO webhook_events (received_at, topic, resource_id, request_id, signature_valid,"
                          " outcome) VALUES (:at, 'payment', :rid, :tag, true, 'accepted')",
                   [{"at": now - timedelta(days=age), "rid": name, "tag": tag} for name, age in inbox])
    audit = [("old", 2000), ("young", 120)]
    await _execute(stack, "INSERT INTO audit_log (occurred_at, dedup_key, actor, action, detail)"
                          " VALUES (:at, :key, :tag, 'retention.test', '{}')",
                   [{"at": now - timedelta(days=age), "key": f"{tag}:{name}", "tag": tag} for name, age in audit])

    client = await stack.temporal()
    description = await client.get_schedule_handle(SCHEDULE_ID).describe()
    assert description.schedule.action.workflow == "RetentionWorkflow"
    await client.get_schedule_handle(SCHEDULE_ID).trigger()

    async def purged():
        left = await stack.rows("SELECT resource_id FROM webhook_events WHERE request_id = :tag", tag=tag)
        kept = await stack.rows("SELECT dedup_key FROM audit_log WHERE actor = :tag", tag=tag)
        return (left, kept) if len(left) == 1 and len(kept) == 1 else None

    left, kept = await eventually(purged, timeout=30, what="old inbox and audit rows purged")
    assert left == [{"resource_id": "young"}]
    assert kept == [{"dedup_key": f"{tag}:young"}]
