"""The plan catalogue: what can be bought, at which price, for how long."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from domain.durations import CalendarDuration, parse_calendar_duration

_NAMED_CYCLES = {"monthly": "P1M", "yearly": "P1Y"}


@dataclass(frozen=True)
class Plan:
    id: int
    code: str
    name: str
    price: Decimal
    currency: str
    billing_cycle: str

    @property
    def period(self) -> CalendarDuration:
        return billing_period(self.billing_cycle)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "price": str(self.price),
            "currency": self.currency,
            "billingCycle": self.billing_cycle,
        }


def billing_period(cycle: str) -> CalendarDuration:
    return parse_calendar_duration(_NAMED_CYCLES.get(cycle, cycle))


def parse_catalogue(text: str) -> dict[int, Plan]:
    """Parse and validate the JSON catalogue; errors name the offending entry."""
    entries = json.loads(text)
    if not isinstance(entries, list):
        raise ValueError("the plan catalogue must be a JSON list")
    plans: dict[int, Plan] = {}
    for position, entry in enumerate(entries):
        try:
            plan = Plan(
                id=int(entry["id"]),
                code=str(entry["code"]),
                name=str(entry["name"]),
                price=Decimal(str(entry["price"])),
                currency=str(entry["currency"]).upper(),
                billing_cycle=str(entry["billingCycle"]),
            )
            billing_period(plan.billing_cycle)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise ValueError(f"plan #{position} in the catalogue is invalid: {exc}") from None
        if not plan.price.is_finite() or plan.price <= 0:
            raise ValueError(f"plan {plan.id} has a non-positive price")
        if plan.id in plans:
            raise ValueError(f"plan id {plan.id} appears twice in the catalogue")
        plans[plan.id] = plan
    return plans


def load_catalogue(path: Path | str) -> dict[int, Plan]:
    return parse_catalogue(Path(path).read_text(encoding="utf-8"))
