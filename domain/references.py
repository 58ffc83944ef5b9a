"""External references tie a MercadoPago payment to our checkout: PLAN-{plan}-USER-{user}-{8 hex}."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^PLAN-(?P<plan>\d+)-USER-(?P<user>\d+)-(?P<suffix>[0-9a-f]{8})$")


@dataclass(frozen=True)
class ExternalReference:
    plan_id: int
    user_id: int
    suffix: str

    def __str__(self) -> str:
        return f"PLAN-{self.plan_id}-USER-{self.user_id}-{self.suffix}"


def external_reference_for(plan_id: int, user_id: int, checkout_id: str) -> str:
    return str(ExternalReference(plan_id, user_id, checkout_id.replace("-", "")[:8].lower()))


def parse_external_reference(text: str | None) -> ExternalReference | None:
    """None for anything that is not ours (other integrations share the seller account)."""
    match = _PATTERN.match(text or "")
    if not match:
        return None
    return ExternalReference(int(match["plan"]), int(match["user"]), match["suffix"])
