"""Reading the plan catalogue as the read model holds it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from store.models import PlanRow
from workflows.messages import PlanSnapshot


async def find_plan(session: AsyncSession, *, plan_id: int) -> PlanSnapshot | None:
    row = await session.get(PlanRow, plan_id)
    if row is None:
        return None
    return PlanSnapshot(
        id=row.id,
        code=row.code,
        name=row.name,
        price=row.price,
        currency=row.currency,
        billing_cycle=row.billing_cycle,
    )
