"""The plan catalogue, as loaded from PLANS_FILE at start."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PlansDep
from api.schemas import PlanOut

router = APIRouter(prefix="/api/plans", tags=["plans"])


@router.get("", response_model=list[PlanOut])
async def list_plans(plans: PlansDep) -> list[dict]:
    return [plan.to_json() for plan in sorted(plans.values(), key=lambda plan: plan.id)]
