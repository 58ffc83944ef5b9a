"""The contract's invariants under duplicates, reordering, loss, bad amounts and MercadoPago failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from domain.durations import add_months
from tests.e2e.purchases import (
    audit_actions,
    knobs,
    ledger,
    new_checkout,
    pay,
    payments_of,
    renotify,
    sandbox_payment,
    set_payment_status,
    start_checkout,
    subscription_of,
    wait_checkout,
    wait_payment,
    wait_subscription,
)
from tests.support.waiting import eventually
from workflows.ids import payment_workflow_id, subscription_workflow_id
from workflows.reconciliation import SCHEDULE_ID


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def router_idle(stack, payment_id, *, after_run: str | None = None) -> str:
    """Wait until the payment's workflow finished a run (other than `after_run`); its run id."""
    client = await stack.temporal()

    async def probe():
        description = await client.get_workflow_handle(payment_workflow_id(str(payment_id))).describe()
        done = description.status == WorkflowExecutionStatus.COMPLETED and description.run_id != after_run
        return description.run_id if done else None

    return await eventually(probe, timeout=30, what=f"routing of payment {payment_id} idle")


# 1 ---------------------------------------------------------------------------------------
async def test_every_duplicate_delivery_applies_the_payment_once(stack, user_id):
    await knobs(stack, duplicates=3, ipn=True, merchant_order=True)
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    active = await wait_subscription(stack, user_id, "ACTIVE")
    first_run = await router_idle(stack, payment["id"])

    await renotify(stack, payment["id"])  # a re-delivery long after the rest
    await router_idle(stack, payment["id"], after_run=first_run)

    assert len(await payments_of(stack, user_id)) == 1
    assert len(await ledger(stack, user_id)) == 1
    final = await subscription_of(stack, user_id)
    assert final["endDate"] == active["endDate"]
    assert at(final["endDate"]) == add_months(at(final["startDate"]), 1)


# 2 ---------------------------------------------------------------------------------------
async def test_statuses_only_move_forward_whatever_the_order(stack, user_id):
    await knobs(stack, reorder=True)  # payment.updated arrives before payment.created
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE")
    first_run = await router_idle(stack, payment["id"])

    # a late "pending" observation: MercadoPago answers pending for a moment
    await set_payment_status(stack, payment["id"], "pending")
    await router_idle(stack, payment["id"], after_run=first_run)
    assert (await payments_of(stack, user_id))[0]["status"] == "APPROVED"

    # a refund always wins
    await set_payment_status(stack, payment["id"], "refunded")
    await wait_payment(stack, user_id, payment["id"], "REFUNDED")


# 3 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("paid", [{"amount": "5.00"}, {"currency": "USD"}], ids=["underpaid", "other-currency"])
async def test_a_wrong_amount_activates_nothing_and_is_refunded(stack, user_id, paid):
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"], **paid)
    await wait_checkout(stack, user_id, checkout["checkoutId"], "REFUNDED")
    assert await subscription_of(stack, user_id) is None
    at_mercadopago = await sandbox_payment(stack, payment["id"])
    assert at_mercadopago["status"] == "refunded" and len(at_mercadopago["refunds"]) == 1
    actions = await audit_actions(stack, payment_id=str(payment["id"]))
    assert "payment.amount_mismatch" in actions and "payment.refunded_by_us" in actions
    recorded = await wait_payment(stack, user_id, payment["id"], "REFUNDED")
    assert Decimal(recorded["amount"]) == Decimal(paid.get("amount", "9.99"))


# 4 ---------------------------------------------------------------------------------------
async def test_rejected_then_approved_on_the_same_checkout(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    rejected = await pay(stack, checkout["preferenceId"], status="rejected")
    await wait_checkout(stack, user_id, checkout["checkoutId"], "REJECTED")
    approved = await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE")
    await wait_checkout(stack, user_id, checkout["checkoutId"], "COMPLETED")
    statuses = {p["mercadopagoPaymentId"]: p["status"] for p in await payments_of(stack, user_id)}
    assert statuses == {str(rejected["id"]): "REJECTED", str(approved["id"]): "APPROVED"}


# 5 ---------------------------------------------------------------------------------------
async def test_a_second_payment_extends_from_the_current_end(stack, user_id):
    first = await new_checkout(stack, user_id)
    await pay(stack, first["preferenceId"])
    once = await wait_subscription(stack, user_id, "ACTIVE")
    second = await new_checkout(stack, user_id)
    await pay(stack, second["preferenceId"])
    twice = await wait_subscription(stack, user_id, "ACTIVE", where=lambda s: s["endDate"] != once["endDate"])
    assert twice["startDate"] == once["startDate"]
    assert at(twice["endDate"]) == add_months(at(once["endDate"]), 1)


async def test_a_payment_after_expiry_starts_from_its_approval(stack, user_id):
    first = await new_checkout(stack, user_id, plan_id=90)  # a 4-second plan
    await pay(stack, first["preferenceId"])
    active = await wait_subscription(stack, user_id, "ACTIVE")
    expired = await wait_subscription(stack, user_id, "EXPIRED", timeout=20)
    assert expired["endDate"] == active["endDate"]
    second = await new_checkout(stack, user_id, plan_id=90)
    payment = await pay(stack, second["preferenceId"])
    again = await wait_subscription(stack, user_id, "ACTIVE")
    assert at(again["startDate"]) == at(payment["date_approved"]) > at(active["endDate"])
    assert at(again["endDate"]) - at(again["startDate"]) == timedelta(seconds=4)


# 6 ---------------------------------------------------------------------------------------
async def test_a_refund_after_activation_takes_the_period_back(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE")
    await set_payment_status(stack, payment["id"], "refunded")
    await wait_subscription(stack, user_id, "EXPIRED")  # no paid time left: expired at once
    [entry] = await ledger(stack, user_id)
    assert entry["reversed_at"] is not None
    await wait_checkout(stack, user_id, checkout["checkoutId"], "REFUNDED")


async def test_a_charge_back_takes_back_only_its_own_period(stack, user_id):
    first = await new_checkout(stack, user_id)
    await pay(stack, first["preferenceId"])
    once = await wait_subscription(stack, user_id, "ACTIVE")
    second = await new_checkout(stack, user_id)
    disputed = await pay(stack, second["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE", where=lambda s: s["endDate"] != once["endDate"])
    await set_payment_status(stack, disputed["id"], "charged_back")
    back = await wait_subscription(stack, user_id, "ACTIVE", where=lambda s: s["endDate"] == once["endDate"])
    assert back["startDate"] == once["startDate"]
    await wait_payment(stack, user_id, disputed["id"], "CHARGED_BACK")


# 7 ---------------------------------------------------------------------------------------
async def test_a_payment_after_the_checkout_expired_is_still_applied(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    await wait_checkout(stack, user_id, checkout["checkoutId"], "EXPIRED", timeout=30)
    await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE")
    await wait_checkout(stack, user_id, checkout["checkoutId"], "COMPLETED")


# 8 ---------------------------------------------------------------------------------------
async def test_no_webhook_at_all_is_found_at_the_deadline(stack, user_id):
    await knobs(stack, drop=True)
    checkout = await new_checkout(stack, user_id)
    await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE", timeout=30)
    await wait_checkout(stack, user_id, checkout["checkoutId"], "COMPLETED")
    assert "checkout.reconciled" in await audit_actions(stack, user_id=user_id)


async def test_the_daily_reconciliation_applies_what_was_missed(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"], status="pending")
    await wait_payment(stack, user_id, payment["id"], "PENDING")
    await wait_checkout(stack, user_id, checkout["checkoutId"], "EXPIRED", timeout=30)
    await knobs(stack, drop=True)
    await set_payment_status(stack, payment["id"], "approved")  # and the webhook is lost

    client = await stack.temporal()
    await client.get_schedule_handle(SCHEDULE_ID).trigger()
    await wait_subscription(stack, user_id, "ACTIVE", timeout=30)
    assert "reconciliation.drift" in await audit_actions(stack, payment_id=str(payment["id"]))


# 9 ---------------------------------------------------------------------------------------
async def test_an_unsigned_ipn_is_only_a_hint(stack, user_id):
    await knobs(stack, drop=True)
    checkout = await new_checkout(stack, user_id)
    rejected = await pay(stack, checkout["preferenceId"], status="rejected")
    async with httpx.AsyncClient(base_url=stack.config.api_url) as mercadopago:
        # whatever an IPN claims, the payment is read back: this one was rejected
        hint = await mercadopago.post(
            f"/api/webhooks/mercadopago?topic=payment&id={rejected['id']}",
            json={"resource": str(rejected["id"]), "topic": "payment", "status": "approved"},
        )
        assert hint.status_code == 200
        await wait_payment(stack, user_id, rejected["id"], "REJECTED")
        assert await subscription_of(stack, user_id) is None

        unknown = await mercadopago.post("/api/webhooks/mercadopago?topic=payment&id=999999999999", json={})
        assert unknown.status_code == 200
    # an id MercadoPago does not know is read (once), counted, and not audited: anyone can send one
    await eventually(lambda: _reads(stack, "999999999999"), what="unknown payment read")
    assert not await _unreadable(stack, "999999999999")


async def _reads(stack, payment_id) -> int:
    async with stack.sandbox() as sandbox:
        return (await sandbox.get(f"/sandbox/payments/{payment_id}/reads")).json()["reads"]


async def _unreadable(stack, payment_id):
    return "payment.unreadable" in await audit_actions(stack, payment_id=payment_id)


# 10 --------------------------------------------------------------------------------------
async def test_mercadopago_failures_are_retried_until_it_answers(stack, user_id):
    # two 500s, then a call slower than our timeout: each attempt fails, the saga goes on
    await knobs(stack, fail={"get_payment": {"status": 500, "count": 2}})
    checkout = await new_checkout(stack, user_id)
    await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE", timeout=40)

    other = await new_checkout(stack, user_id)
    await knobs(stack, fail={"get_payment": {"status": 200, "count": 1, "delay_ms": 4000}})
    await pay(stack, other["preferenceId"])
    await wait_checkout(stack, user_id, other["checkoutId"], "COMPLETED", timeout=40)


async def test_a_revoked_token_ends_in_an_audited_state(stack, user_id):
    await knobs(stack, fail={"get_payment": {"status": 401, "count": -1}})
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    await eventually(lambda: _unreadable(stack, str(payment["id"])), what="401 audited")
    assert await subscription_of(stack, user_id) is None
    # once the token works again, the next notification applies it
    await knobs(stack, fail={"get_payment": None})
    await renotify(stack, payment["id"])
    await wait_subscription(stack, user_id, "ACTIVE")


# 12 --------------------------------------------------------------------------------------
async def test_cancel_is_the_owners_idempotent_and_a_later_payment_starts_afresh(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    await pay(stack, checkout["preferenceId"])
    active = await wait_subscription(stack, user_id, "ACTIVE")
    path = f"/api/subscriptions/{active['subscriptionId']}/cancel"
    async with stack.api(user_id + 5000) as stranger:
        assert (await stranger.post(path)).status_code == 403
    async with stack.api(user_id) as owner:
        first = await owner.post(path)
        again = await owner.post(path)
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "CANCELLED"
    assert (await subscription_of(stack, user_id))["status"] == "CANCELLED"

    renewed = await new_checkout(stack, user_id)
    payment = await pay(stack, renewed["preferenceId"])
    fresh = await wait_subscription(stack, user_id, "ACTIVE")
    assert at(fresh["startDate"]) == at(payment["date_approved"])
    assert at(fresh["endDate"]) == add_months(at(fresh["startDate"]), 1)


# 13 --------------------------------------------------------------------------------------
async def test_the_subscription_continues_as_new_and_keeps_its_ledger(stack, user_id):
    client = await stack.temporal()
    payments = []
    for n in range(4):  # the stack continues as new after 3 changes
        checkout = await new_checkout(stack, user_id, plan_id=91)
        payments.append(await pay(stack, checkout["preferenceId"]))
        await eventually(lambda: _ledger_size(stack, user_id, n + 1), what=f"{n + 1} payments applied")  # noqa: B023
    query = f"WorkflowId = '{subscription_workflow_id(user_id)}'"
    await eventually(lambda: _runs_at_least(client, query, 2), what="the subscription continued as new")

    before = await subscription_of(stack, user_id)
    await renotify(stack, payments[0]["id"])
    await router_idle(stack, payments[0]["id"])
    assert len(await ledger(stack, user_id)) == 4
    assert (await subscription_of(stack, user_id))["endDate"] == before["endDate"]
    assert at(before["endDate"]) - at(before["startDate"]) == timedelta(hours=4)


async def _ledger_size(stack, user_id, size):
    return len(await ledger(stack, user_id)) == size


async def _runs_at_least(client, query: str, count: int) -> bool:
    return len([w async for w in client.list_workflows(query)]) >= count


async def test_a_preference_mercadopago_refuses_is_503_and_audited(stack, user_id):
    await knobs(stack, fail={"create_preference": {"status": 401, "count": -1}})
    answer = await start_checkout(stack, user_id)
    assert answer.status_code == 503 and answer.json()["error"] == "checkout_unavailable"
    assert "checkout.preference_failed" in await audit_actions(stack, user_id=user_id)
