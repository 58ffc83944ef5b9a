"""Money stays exact in the database: Decimal in, the same Decimal out, on both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from store.models import PlanRow


async def test_amounts_round_trip_exactly(sessions, backend):
    async with sessions() as session, session.begin():
        session.add(
            PlanRow(
                id=77,
                code="EXACT",
                name="exact",
                price=Decimal("0.10") + Decimal("0.20"),
                currency="ARS",
                billing_cycle="monthly",
            )
        )
    async with sessions() as session:
        row = await session.get(PlanRow, 77)
        assert row.price == Decimal("0.30") and isinstance(row.price, Decimal)
        raw = (await session.execute(text("SELECT price FROM plans WHERE id = 77"))).scalar_one()
    # SQLite would keep a NUMERIC as a binary float: we keep the exact text instead
    assert str(raw) == "0.30"


async def test_a_float_is_refused(sessions):
    with pytest.raises(Exception, match="never float"):
        async with sessions() as session, session.begin():
            session.add(PlanRow(id=78, code="FLOAT", name="f", price=9.99, currency="ARS", billing_cycle="monthly"))
