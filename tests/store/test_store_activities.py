"""What every store activity shares: its name (the workflows' contract) and its transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities.store import StoreActivities
from store.models import AuditRow


def test_activity_names():
    store = StoreActivities(sessions=None)
    names = {activity._Definition.must_from_callable(method).name for method in store.all()}
    assert names == {
        "store.save_checkout",
        "store.find_checkout",
        "store.get_plan",
        "store.save_payment",
        "store.save_subscription",
        "store.record_audit",
        "store.payment_statuses",
    }


def losing_race(times: int):
    """Work that writes a row, then fails with a unique-key race the first `times` calls."""
    calls = []

    async def work(session):
        calls.append(1)
        session.add(AuditRow(dedup_key=f"attempt-{len(calls)}", actor="test", action="race", detail={}))
        await session.flush()
        if len(calls) <= times:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        return len(calls)

    return work


async def test_a_lost_unique_key_race_is_retried_once_in_a_new_transaction(store, sessions):
    assert await store._unit_of_work(losing_race(times=1)) == 2

    async with sessions() as session:
        # the first attempt's write was rolled back with its transaction
        assert list(await session.scalars(select(AuditRow.dedup_key))) == ["attempt-2"]


async def test_a_second_lost_race_is_raised(store):
    with pytest.raises(IntegrityError):
        await store._unit_of_work(losing_race(times=2))
