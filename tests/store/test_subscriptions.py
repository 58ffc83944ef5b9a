"""store.save_subscription: the user's one row, newest version wins; the ledger only grows."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import func, select

from domain.statuses import SubscriptionStatus as S
from store.models import AuditRow, LedgerRow, SubscriptionRow
from store.records import AuditRecord

from . import builders


async def subscription_row(sessions, user_id: int = 7) -> SubscriptionRow:
    async with sessions() as session:
        return await session.scalar(select(SubscriptionRow).where(SubscriptionRow.user_id == user_id))


async def ledger_rows(sessions) -> dict[str, LedgerRow]:
    async with sessions() as session:
        return {row.mercadopago_payment_id: row for row in await session.scalars(select(LedgerRow))}


async def test_first_write_creates_the_subscription_and_its_ledger(store, sessions):
    subscription_id = await store.save_subscription(builders.subscription(1, ledger_changes=(builders.ledger("p1"),)))

    row = await subscription_row(sessions)
    assert (row.id, row.status, row.version, row.plan_id) == (subscription_id, "ACTIVE", 1, 2)
    assert row.end_date == builders.T0 + timedelta(days=30) and row.end_date.tzinfo is not None
    ledger = await ledger_rows(sessions)
    assert ledger["p1"].subscription_id == subscription_id and ledger["p1"].reversed_at is None


async def test_a_newer_version_updates_the_same_row(store, sessions):
    first = await store.save_subscription(builders.subscription(1))
    second = await store.save_subscription(builders.subscription(2, days=60, ledger_changes=(builders.ledger("p2"),)))

    assert second == first
    row = await subscription_row(sessions)
    assert (row.version, row.end_date) == (2, builders.T0 + timedelta(days=60))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SubscriptionRow)) == 1


async def test_a_stale_version_is_ignored_but_answers_the_id(store, sessions):
    subscription_id = await store.save_subscription(builders.subscription(5, S.CANCELLED))
    before = await subscription_row(sessions)

    assert await store.save_subscription(builders.subscription(4, S.ACTIVE, days=90)) == subscription_id

    after = await subscription_row(sessions)
    assert (after.status, after.version, after.end_date, after.updated_at) == (
        "CANCELLED",
        5,
        before.end_date,
        before.updated_at,
    )


async def test_the_same_version_again_is_a_rerun_and_its_answer_wins(store, sessions):
    """A worker died after writing version 2 but before Temporal recorded the step: the step
    runs again (possibly taking payments in another order) and what it writes is what stands."""
    await store.save_subscription(builders.subscription(1, ledger_changes=(builders.ledger("p1"),)))
    await store.save_subscription(builders.subscription(2, days=60, ledger_changes=(builders.ledger("p2", days=60),)))
    await store.save_subscription(builders.subscription(2, days=45, ledger_changes=(builders.ledger("p2", days=45),)))

    row = await subscription_row(sessions)
    assert (row.version, row.end_date) == (2, builders.T0 + timedelta(days=45))
    assert (await ledger_rows(sessions))["p2"].period_end == builders.T0 + timedelta(days=45)


async def test_ledger_entries_are_applied_once_and_reversed_once(store, sessions):
    applied = builders.ledger("p1")
    await store.save_subscription(builders.subscription(2, ledger_changes=(applied,)))
    # an older write naming the same payment adds no row and changes no period
    await store.save_subscription(builders.subscription(1, ledger_changes=(builders.ledger("p1", days=99),)))
    assert len(await ledger_rows(sessions)) == 1
    assert (await ledger_rows(sessions))["p1"].period_end == builders.T0 + timedelta(days=30)

    reversed_at = builders.T0 + timedelta(days=3)
    reversal = builders.ledger("p1", reversed_at=reversed_at)
    await store.save_subscription(builders.subscription(3, S.EXPIRED, ledger_changes=(reversal,)))
    # a retried reversal with a later time leaves the first one
    await store.save_subscription(
        builders.subscription(
            3, S.EXPIRED, ledger_changes=(builders.ledger("p1", reversed_at=reversed_at + timedelta(hours=1)),)
        )
    )

    assert (await ledger_rows(sessions))["p1"].reversed_at == reversed_at


async def test_concurrent_writes_keep_the_newest_version(store, sessions):
    versions = list(range(1, 11))
    random.Random(3).shuffle(versions)
    ids = await asyncio.gather(
        *(
            store.save_subscription(builders.subscription(v, days=v, ledger_changes=(builders.ledger("p1"),)))
            for v in versions
        )
    )

    assert len(set(ids)) == 1
    row = await subscription_row(sessions)
    assert (row.version, row.end_date) == (10, builders.T0 + timedelta(days=10))
    assert len(await ledger_rows(sessions)) == 1


async def test_users_have_separate_subscriptions(store):
    assert await store.save_subscription(builders.subscription(1, user_id=7)) != await store.save_subscription(
        builders.subscription(1, user_id=8)
    )


async def test_the_audit_record_is_written_with_the_change_once(store, sessions):
    audit = AuditRecord(
        dedup_key="subscription-user-7:v1:subscription.activated",
        actor="subscription-user-7",
        action="subscription.activated",
        user_id=7,
        mercadopago_payment_id="p1",
        detail={"status": "ACTIVE"},
    )
    record = builders.subscription(1, ledger_changes=(builders.ledger("p1"),)).model_copy(update={"audit": audit})
    await store.save_subscription(record)
    await store.save_subscription(record)  # a retried write: the audit record stays one
    # a stale write still leaves its own audit record: it is what the workflow decided
    await store.save_subscription(
        builders.subscription(0).model_copy(
            update={"audit": audit.model_copy(update={"dedup_key": "subscription-user-7:v0:subscription.activated"})}
        )
    )

    async with sessions() as session:
        rows = list(await session.scalars(select(AuditRow).order_by(AuditRow.id)))
    assert [(row.dedup_key, row.action, row.mercadopago_payment_id, row.detail) for row in rows] == [
        ("subscription-user-7:v1:subscription.activated", "subscription.activated", "p1", {"status": "ACTIVE"}),
        ("subscription-user-7:v0:subscription.activated", "subscription.activated", "p1", {"status": "ACTIVE"}),
    ]
