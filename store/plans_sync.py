"""Copy the plan catalogue (PLANS_FILE) into the `plans` table, so the read model can join on it.

Idempotent and safe when the API and the worker start together. Plans that left the catalogue
stay in the table: old payments and subscriptions still name them.
"""

from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.plans import Plan
from store.models import PlanRow, utcnow
from store.upsert import dialect_insert

_CATALOGUE_FIELDS = ("code", "name", "price", "currency", "billing_cycle")


async def sync_plans(session_factory: async_sessionmaker[AsyncSession], plans: dict[int, Plan]) -> None:
    if not plans:
        return
    now = utcnow()
    async with session_factory() as session, session.begin():
        # ascending ids: concurrent syncs lock rows in one order and never deadlock
        rows = [
            {
                "id": plan.id,
                "code": plan.code,
                "name": plan.name,
                "price": plan.price,
                "currency": plan.currency,
                "billing_cycle": plan.billing_cycle,
                "updated_at": now,
            }
            for plan in sorted(plans.values(), key=lambda plan: plan.id)
        ]
        statement = dialect_insert(session, PlanRow).values(rows)
        excluded = statement.excluded
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={field: excluded[field] for field in (*_CATALOGUE_FIELDS, "updated_at")},
                # an unchanged plan keeps its updated_at
                where=or_(*(getattr(PlanRow, field) != excluded[field] for field in _CATALOGUE_FIELDS)),
            )
        )
