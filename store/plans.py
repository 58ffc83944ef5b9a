"""Reading the plan catalogue as the read model holds it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.plans import Plan
from store.models import PlanRow


async def find_plan(session: AsyncSession, *, plan_id: int) -> Plan | None:
    row = await session.get(PlanRow, plan_id)
    if row is None:
        return None
    return Plan(
        id=row.id,
        code=row.code,
        name=row.name,
        price=row.price,
        currency=row.currency,
        billing_cycle=row.billing_cycle,
    )
