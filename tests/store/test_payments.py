"""store.save_payment: one row per MercadoPago payment, status merged monotonically."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from functools import reduce

from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from domain.statuses import PaymentStatus as S
from domain.statuses import merge_status
from store.models import PaymentRow
from store.records import StoredPayment

from . import builders


async def stored(sessions, mp_id: str = "1319000001") -> PaymentRow:
    async with sessions() as session:
        return await session.scalar(select(PaymentRow).where(PaymentRow.mercadopago_payment_id == mp_id))


async def count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(PaymentRow))


async def test_first_observation_inserts_with_exact_money_and_utc_times(store, sessions):
    result = await store.save_payment(builders.payment(S.APPROVED, amount=Decimal("1234567.89")))

    assert result.changed and result.status is S.APPROVED
    row = await stored(sessions)
    assert row.id == result.payment_id
    assert row.amount == Decimal("1234567.89") and isinstance(row.amount, Decimal)
    assert row.amount_refunded == Decimal("0")
    assert row.approved_at == builders.T0.replace(minute=1) and row.approved_at.utcoffset().total_seconds() == 0
    assert (row.user_id, row.plan_id, row.status_detail) == (7, 2, "accredited")


async def test_same_observation_again_changes_nothing(store, sessions):
    first = await store.save_payment(builders.payment(S.APPROVED))
    again = await store.save_payment(builders.payment(S.APPROVED))

    assert again == StoredPayment(payment_id=first.payment_id, status=S.APPROVED, changed=False)
    assert await count(sessions) == 1


async def test_late_pending_never_overwrites_approved(store, sessions):
    approved = await store.save_payment(builders.payment(S.APPROVED))
    late = await store.save_payment(
        builders.payment(S.PENDING, status_detail="pending_contingency", payment_method="other", user_id=None)
    )

    assert late == StoredPayment(payment_id=approved.payment_id, status=S.APPROVED, changed=False)
    row = await stored(sessions)
    # the stale observation changes no detail either, and no one is un-assigned
    assert (row.status, row.status_detail, row.payment_method, row.user_id) == ("APPROVED", "accredited", "visa", 7)
    assert row.approved_at is not None


async def test_refunded_and_charged_back_always_win(store, sessions):
    await store.save_payment(builders.payment(S.PENDING))
    approved = await store.save_payment(builders.payment(S.APPROVED))
    refunded = await store.save_payment(
        builders.payment(S.REFUNDED, amount_refunded=Decimal("19.99"), status_detail="refunded")
    )
    assert approved.changed and refunded == StoredPayment(
        payment_id=approved.payment_id, status=S.REFUNDED, changed=True
    )

    # a late approved keeps neither its status nor its detail; the approval time stays
    assert (await store.save_payment(builders.payment(S.APPROVED))).status is S.REFUNDED
    row = await stored(sessions)
    assert (row.status, row.status_detail, row.amount_refunded) == ("REFUNDED", "refunded", Decimal("19.99"))
    assert row.approved_at == builders.T0.replace(minute=1)

    charged_back = await store.save_payment(builders.payment(S.CHARGED_BACK))
    assert charged_back.status is S.CHARGED_BACK and charged_back.changed


async def test_a_missing_user_is_filled_in_later(store, sessions):
    await store.save_payment(builders.payment(S.PENDING, user_id=None, plan_id=None))
    await store.save_payment(builders.payment(S.PENDING))

    row = await stored(sessions)
    assert (row.user_id, row.plan_id) == (7, 2)


async def test_any_order_of_observations_ends_at_the_merged_status(store, sessions):
    observations = [S.PENDING, S.APPROVED, S.PENDING, S.IN_MEDIATION, S.APPROVED, S.REFUNDED]
    expected = reduce(merge_status, observations, None)
    shuffler = random.Random(7)
    for case in range(4):
        mp_id = f"order-{case}"
        for status in shuffler.sample(observations, len(observations)):
            await store.save_payment(builders.payment(status, mp_id))
        assert (await stored(sessions, mp_id)).status == expected


async def test_ten_concurrent_observations_leave_one_row(store, sessions):
    statuses = [S.PENDING, S.APPROVED, S.PENDING, S.APPROVED, S.PENDING] * 2
    results = await asyncio.gather(*(store.save_payment(builders.payment(status)) for status in statuses))

    assert await count(sessions) == 1
    assert len({result.payment_id for result in results}) == 1
    assert (await stored(sessions)).status == "APPROVED"
    # exactly the observations that moved the status report a change: the first, and one approval
    assert sum(result.changed for result in results) in (1, 2)


async def test_runs_as_a_temporal_activity(store, sessions):
    result = await ActivityEnvironment().run(store.save_payment, builders.payment(S.APPROVED))

    assert result.changed and (await stored(sessions)).id == result.payment_id
