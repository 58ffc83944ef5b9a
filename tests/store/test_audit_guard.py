"""The database itself keeps the audit log append-only, whatever the code asks.

PostgreSQL: a trigger refuses UPDATE and TRUNCATE of audit rows, and DELETE except for rows
older than the cutoff a retention transaction sets (`paysaga.audit_purge_before`). The API and
the worker run as `paysaga_runtime`, which owns nothing: it can neither update audit rows, nor
alter a table, nor drop the trigger. SQLite: a trigger refuses UPDATE.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from activities.retention import RetentionActivities
from activities.store import StoreActivities
from domain.events import DeliveryStatus
from store.database import create_session_factory
from store.models import AuditRow, EventRow, WebhookEventRow, utcnow
from store.records import AuditRecord
from workflows.retention_messages import PurgeBatch

from . import builders

RUNTIME_ROLE = "paysaga_runtime"
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def seed_audit(sessions, *ages_in_days: int) -> None:
    now = utcnow()
    async with sessions() as session, session.begin():
        session.add_all(
            AuditRow(
                occurred_at=now - timedelta(days=age),
                dedup_key=f"k{n}",
                actor="test",
                action="payment.recorded",
                detail={},
            )
            for n, age in enumerate(ages_in_days)
        )


async def audit_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(AuditRow))


@pytest.fixture
async def runtime_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The same database, every connection acting as the application's runtime role from its start
    (a startup parameter: a `SET ROLE` in a transaction would be undone by its rollback)."""
    engine = create_async_engine(database_url, connect_args={"server_settings": {"role": RUNTIME_ROLE}})
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_an_audit_row_cannot_be_updated(sessions, engine):
    await seed_audit(sessions, 0)

    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(update(AuditRow).values(action="payment.refunded"))

    async with sessions() as session:
        assert list(await session.scalars(select(AuditRow.action))) == ["payment.recorded"]


@postgresql_only
async def test_a_recent_audit_row_cannot_be_deleted_nor_the_table_truncated(sessions, engine):
    await seed_audit(sessions, 1)

    attempts = [
        ["DELETE FROM audit_log"],
        # a purge cutoff only releases rows older than itself
        ["SELECT set_config('paysaga.audit_purge_before', :cutoff, true)", "DELETE FROM audit_log"],
        ["TRUNCATE audit_log"],
    ]
    for statements in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as connection:
                for statement in statements:
                    await connection.execute(text(statement), {"cutoff": (utcnow() - timedelta(days=2)).isoformat()})
    assert await audit_count(engine) == 1


@postgresql_only
async def test_a_purge_cutoff_lasts_only_for_its_transaction(sessions, engine):
    await seed_audit(sessions, 400)
    async with engine.begin() as connection:
        await connection.execute(
            text("SELECT set_config('paysaga.audit_purge_before', :cutoff, true)"), {"cutoff": utcnow().isoformat()}
        )

    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM audit_log"))
    assert await audit_count(engine) == 1


@postgresql_only
async def test_the_retention_purge_still_deletes_old_rows_as_the_runtime_role(sessions, runtime_engine, engine):
    await seed_audit(sessions, 1, 364, 366, 4000)
    retention = RetentionActivities(create_session_factory(runtime_engine), inbox_days=90, audit_days=365)

    result = await retention.purge_audit(PurgeBatch(limit=100))

    assert (result.deleted, result.more) == (2, False)
    async with sessions() as session:
        assert sorted(await session.scalars(select(AuditRow.dedup_key))) == ["k0", "k1"]
    # and the rest of the purge (inbox, delivered events) is granted too
    async with sessions() as session, session.begin():
        old = utcnow() - timedelta(days=400)
        session.add(WebhookEventRow(received_at=old, topic="payment", outcome="accepted", signature_valid=True))
        session.add(
            EventRow(
                event_key="e1",
                type="payment.approved",
                user_id=7,
                occurred_at=old,
                data={},
                delivery_status=DeliveryStatus.DELIVERED.value,
                attempts=1,
            )
        )
    assert (await retention.purge_inbox(PurgeBatch(limit=100))).deleted == 1
    assert (await retention.purge_events(PurgeBatch(limit=100))).deleted == 1


@postgresql_only
async def test_the_runtime_role_cannot_update_audit_rows_nor_alter_tables(sessions, runtime_engine, engine):
    await seed_audit(sessions, 1)
    async with runtime_engine.connect() as connection:
        assert await connection.scalar(text("SELECT current_user")) == RUNTIME_ROLE
    refused = {
        "UPDATE audit_log SET action = 'x'": "permission denied",
        "TRUNCATE audit_log": "permission denied",
        "DELETE FROM audit_log": "append-only",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only": "must be owner",
        "DROP TRIGGER audit_log_append_only ON audit_log": "must be owner",
        "ALTER TABLE payments ADD COLUMN note text": "must be owner",
        "DROP TABLE webhook_events": "must be owner",
        "DELETE FROM payments": "permission denied",
    }
    for statement, reason in refused.items():
        with pytest.raises(DBAPIError, match=reason):
            async with runtime_engine.begin() as connection:
                await connection.execute(text(statement))
    assert await audit_count(engine) == 1


@postgresql_only
async def test_the_runtime_role_can_do_all_the_store_does(runtime_engine):
    """Every table and sequence the running application writes is granted to the runtime role."""
    runtime_sessions = create_session_factory(runtime_engine)
    store = StoreActivities(runtime_sessions)

    await store.save_checkout(builders.checkout())
    await store.save_payment(builders.payment())
    await store.save_subscription(builders.subscription(1, ledger_changes=(builders.ledger("p1"),)))
    await store.save_subscription(builders.subscription(2, ledger_changes=(builders.ledger("p2"),)))
    await store.record_audit(
        AuditRecord(
            dedup_key="checkout:chk-1:created", actor="checkout/chk-1", action="checkout.created", user_id=7, detail={}
        )
    )
    await store.record_audit(
        AuditRecord(
            dedup_key="checkout:chk-1:created", actor="checkout/chk-1", action="checkout.created", user_id=7, detail={}
        )
    )

    assert await store.find_checkout("PLAN-2-USER-7-0a1b2c3d") is not None
    assert await audit_count(runtime_engine) == 1
