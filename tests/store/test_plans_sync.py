"""The catalogue is copied into `plans`, idempotently, and read back by store.get_plan."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from sqlalchemy import select

from config.settings import DEFAULT_PLANS_FILE
from domain.plans import load_catalogue
from store.models import PlanRow
from store.plans_sync import sync_plans

CATALOGUE = load_catalogue(DEFAULT_PLANS_FILE)


async def plan_rows(sessions) -> dict[int, PlanRow]:
    async with sessions() as session:
        return {row.id: row for row in await session.scalars(select(PlanRow))}


async def test_catalogue_is_copied_and_read_back(sessions, store):
    await sync_plans(sessions, CATALOGUE)

    assert set(await plan_rows(sessions)) == set(CATALOGUE)
    for plan in CATALOGUE.values():
        assert await store.get_plan(plan.id) == plan
    assert await store.get_plan(404) is None


async def test_sync_is_idempotent_and_leaves_unchanged_plans_alone(sessions):
    await sync_plans(sessions, CATALOGUE)
    before = await plan_rows(sessions)

    await asyncio.gather(*(sync_plans(sessions, CATALOGUE) for _ in range(5)))

    after = await plan_rows(sessions)
    assert {i: r.updated_at for i, r in after.items()} == {i: r.updated_at for i, r in before.items()}


async def test_a_changed_price_is_updated(sessions, store):
    await sync_plans(sessions, CATALOGUE)
    repriced = dataclasses.replace(CATALOGUE[2], price=Decimal("24.50"))

    await sync_plans(sessions, CATALOGUE | {2: repriced})

    snapshot = await store.get_plan(2)
    assert snapshot.price == Decimal("24.50") and isinstance(snapshot.price, Decimal)
    assert (await store.get_plan(1)) == CATALOGUE[1]
