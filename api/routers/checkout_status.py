"""GET /api/checkouts/{checkoutId}, where a checkout stands: from the read model its workflow keeps up to date
(checkout_start.py starts it)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import SessionDep, UserDep, require_owned
from api.errors import ApiError
from api.schemas import CheckoutOut
from store.models import CheckoutRow, PaymentRow

router = APIRouter(prefix="/api/checkouts", tags=["checkouts"])


@router.get("/{checkoutId}", response_model=CheckoutOut)
async def get_checkout(checkoutId: str, user: UserDep, session: SessionDep) -> CheckoutOut:
    row = await session.get(CheckoutRow, checkoutId) if len(checkoutId) <= 64 else None
    row = require_owned(user, row, ApiError(404, "checkout_not_found", "no such checkout"))
    payment_id = None
    if row.mercadopago_payment_id:
        payment_id = await session.scalar(
            select(PaymentRow.id).where(PaymentRow.mercadopago_payment_id == row.mercadopago_payment_id)
        )
    return CheckoutOut.of(row, payment_id)
