"""store.save_checkout / store.find_checkout: upserts whose status only moves forward."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from itertools import product

import pytest
from sqlalchemy import func, select

from domain.statuses import CheckoutStatus as S
from store.checkout_progress import advance_checkout
from store.models import CheckoutRow
from store.records import CheckoutRef

from . import builders

PREFERENCE = dict(preference_id="pref-1", init_point="https://mp/init", sandbox_init_point="https://mp/sandbox")


async def stored(sessions, checkout_id: str = "chk-1") -> CheckoutRow:
    async with sessions() as session:
        return await session.get(CheckoutRow, checkout_id)


@pytest.mark.parametrize(
    ("current", "observed", "kept"),
    [
        (S.AWAITING_PAYMENT, S.PAYMENT_PENDING, S.PAYMENT_PENDING),
        (S.PAYMENT_PENDING, S.AWAITING_PAYMENT, S.PAYMENT_PENDING),
        (S.PAYMENT_PENDING, S.REJECTED, S.REJECTED),
        (S.REJECTED, S.PAYMENT_PENDING, S.PAYMENT_PENDING),  # the buyer retried
        (S.REJECTED, S.COMPLETED, S.COMPLETED),
        (S.REJECTED, S.AWAITING_PAYMENT, S.REJECTED),
        (S.COMPLETED, S.PAYMENT_PENDING, S.COMPLETED),
        (S.COMPLETED, S.EXPIRED, S.COMPLETED),
        (S.EXPIRED, S.COMPLETED, S.COMPLETED),  # a late payment was still applied
        (S.EXPIRED, S.REJECTED, S.EXPIRED),
        (S.COMPLETED, S.REFUNDED, S.REFUNDED),
        (S.REFUNDED, S.COMPLETED, S.REFUNDED),
    ],
)
def test_checkout_status_only_moves_forward(current, observed, kept):
    assert advance_checkout(current, observed) is kept


def test_final_statuses_are_never_left_except_for_a_refund_or_a_late_payment():
    for current, observed in product(S, S):
        if current in (S.COMPLETED, S.EXPIRED, S.REFUNDED):
            allowed = (current, S.REFUNDED, S.COMPLETED) if current == S.EXPIRED else (current, S.REFUNDED)
            assert advance_checkout(current, observed) in allowed


async def test_saved_checkout_is_found_by_external_reference(store, sessions):
    record = builders.checkout(**PREFERENCE)
    await store.save_checkout(record)

    assert await store.find_checkout(record.external_reference) == CheckoutRef(
        checkout_id="chk-1", user_id=7, plan_id=2
    )
    assert await store.find_checkout("PLAN-2-USER-7-ffffffff") is None
    row = await stored(sessions)
    assert row.amount == Decimal("19.99") and row.status == "AWAITING_PAYMENT"
    assert row.created_at == builders.T0 and row.updated_at.tzinfo is not None


async def test_save_checkout_is_idempotent(store, sessions):
    record = builders.checkout(**PREFERENCE)
    for _ in range(3):
        await store.save_checkout(record)

    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CheckoutRow)) == 1
    assert (await stored(sessions)).preference_id == "pref-1"


async def test_status_moves_forward_and_preference_is_never_nulled(store, sessions):
    await store.save_checkout(builders.checkout(**PREFERENCE))
    await store.save_checkout(builders.checkout(S.COMPLETED, mercadopago_payment_id="1319000001"))
    # a late, stale write: neither the status nor the payment id go back
    await store.save_checkout(builders.checkout(S.PAYMENT_PENDING, mercadopago_payment_id="1319000000"))

    row = await stored(sessions)
    assert row.status == "COMPLETED"
    assert row.mercadopago_payment_id == "1319000001"
    assert (row.preference_id, row.init_point, row.sandbox_init_point) == (
        "pref-1",
        "https://mp/init",
        "https://mp/sandbox",
    )


async def test_a_rejected_buyer_may_retry(store, sessions):
    await store.save_checkout(builders.checkout(S.REJECTED, mercadopago_payment_id="1"))
    await store.save_checkout(builders.checkout(S.PAYMENT_PENDING, mercadopago_payment_id="2"))
    assert ((await stored(sessions)).status, (await stored(sessions)).mercadopago_payment_id) == (
        "PAYMENT_PENDING",
        "2",
    )

    await store.save_checkout(builders.checkout(S.COMPLETED, mercadopago_payment_id="2"))
    assert (await stored(sessions)).status == "COMPLETED"


async def test_concurrent_saves_leave_one_row_at_the_furthest_status(store, sessions):
    statuses = [S.AWAITING_PAYMENT, S.PAYMENT_PENDING, S.COMPLETED, S.AWAITING_PAYMENT, S.PAYMENT_PENDING] * 2
    await asyncio.gather(*(store.save_checkout(builders.checkout(status, **PREFERENCE)) for status in statuses))

    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(CheckoutRow)) == 1
    assert (await stored(sessions)).status == "COMPLETED"
