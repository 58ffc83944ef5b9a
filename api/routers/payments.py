"""Payments as the read model holds them (written by the workflows' activities, never here)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import SessionDep, UserDep, require_access, require_owned
from api.errors import ApiError
from api.ids import INT64_MAX, Int64
from api.schemas import PaymentOut
from domain.statuses import PaymentStatus
from store.models import PaymentRow

router = APIRouter(prefix="/api/payments", tags=["payments"])


def _user_payments(user_id: int, limit: int, offset: int, status: PaymentStatus | None = None):
    query = select(PaymentRow).where(PaymentRow.user_id == user_id)
    if status is not None:
        query = query.where(PaymentRow.status == status.value)
    return query.order_by(PaymentRow.created_at.desc(), PaymentRow.id.desc()).limit(limit).offset(offset)


# The /user/... routes come before /{paymentId} so "user" is never read as a payment id.
@router.get("/user/{userId}", response_model=list[PaymentOut])
async def user_payments(
    userId: Int64,
    user: UserDep,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=INT64_MAX),
) -> list[PaymentOut]:
    require_access(user, userId)
    rows = (await session.scalars(_user_payments(userId, limit, offset))).all()
    return [PaymentOut.of(row) for row in rows]


@router.get("/user/{userId}/approved", response_model=list[PaymentOut])
async def user_approved_payments(
    userId: Int64,
    user: UserDep,
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=INT64_MAX),
) -> list[PaymentOut]:
    require_access(user, userId)
    rows = (await session.scalars(_user_payments(userId, limit, offset, PaymentStatus.APPROVED))).all()
    return [PaymentOut.of(row) for row in rows]


@router.get("/{paymentId}", response_model=PaymentOut)
async def get_payment(paymentId: Int64, user: UserDep, session: SessionDep) -> PaymentOut:
    row = await session.get(PaymentRow, paymentId)
    # a payment we could not tie to a user (foreign external reference) is for admins only
    row = require_owned(user, row, ApiError(404, "payment_not_found", f"payment {paymentId} does not exist"))
    return PaymentOut.of(row)
