"""One purchase end to end: API → CheckoutWorkflow → sandbox (official SDK) → signed webhook → ACTIVE."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx

from tests.e2e.purchases import pay, start_checkout, subscription_of
from tests.support.waiting import eventually

PAYMENT_FIELDS = {
    "paymentId",
    "mercadopagoPaymentId",
    "userId",
    "planId",
    "amount",
    "currency",
    "status",
    "statusDetail",
    "externalReference",
    "paymentMethod",
    "paymentType",
    "createdAt",
    "approvedAt",
}


async def test_paid_checkout_activates_the_subscription(stack, user_id):
    async with stack.api(user_id) as api:
        plans = (await api.get("/api/plans")).json()
    basic = next(p for p in plans if p["id"] == 1)

    created = await start_checkout(stack, user_id)
    assert created.status_code == 201, created.text
    checkout = created.json()
    assert set(checkout) >= {
        "checkoutId",
        "preferenceId",
        "initPoint",
        "sandboxInitPoint",
        "externalReference",
        "createdAt",
    }
    assert re.fullmatch(rf"PLAN-1-USER-{user_id}-[0-9a-f]{{8}}", checkout["externalReference"])
    assert checkout["initPoint"].startswith(stack.config.sandbox_url)

    # the buyer opens the initPoint and presses Approve on the sandbox's page
    async with httpx.AsyncClient(timeout=15) as buyer:
        page = await buyer.get(checkout["initPoint"])
        assert page.status_code == 200 and basic["price"] in page.text
        paid = await buyer.post(
            f"{stack.config.sandbox_url}/checkout/v1/pay",
            data={"pref_id": checkout["preferenceId"], "outcome": "approved"},
        )
        assert paid.status_code in (200, 303)

    active = await eventually(lambda: _active(stack, user_id), timeout=30, what="subscription ACTIVE after payment")
    assert active["planId"] == 1 and active["userId"] == user_id

    async with stack.api(user_id) as api:
        payments = (await api.get(f"/api/payments/user/{user_id}")).json()
        assert len(payments) == 1
        payment = payments[0]
        assert set(payment) >= PAYMENT_FIELDS
        assert payment["status"] == "APPROVED"
        assert Decimal(payment["amount"]) == Decimal(basic["price"]) and isinstance(payment["amount"], str)
        assert payment["externalReference"] == checkout["externalReference"]
        assert isinstance(payment["mercadopagoPaymentId"], str)
        one = (await api.get(f"/api/payments/{payment['paymentId']}")).json()
        assert one == payment
        approved = (await api.get(f"/api/payments/user/{user_id}/approved")).json()
        assert [p["paymentId"] for p in approved] == [payment["paymentId"]]
        status = await eventually(lambda: _checkout_status(api, checkout["checkoutId"], "COMPLETED"), what="COMPLETED")
        assert status["paymentId"] == payment["paymentId"]
        listed = (await api.get(f"/api/subscriptions/user/{user_id}/active")).json()
        assert [s["subscriptionId"] for s in listed] == [active["subscriptionId"]]


async def _active(stack, user_id):
    subscription = await subscription_of(stack, user_id)
    return subscription if subscription and subscription["status"] == "ACTIVE" else None


async def _checkout_status(api, checkout_id, wanted):
    answer = (await api.get(f"/api/checkouts/{checkout_id}")).json()
    return answer if answer.get("status") == wanted else None


async def test_idempotency_key_replay_returns_the_same_checkout(stack, user_id):
    first = await start_checkout(stack, user_id, key="order-42")
    again = await start_checkout(stack, user_id, key="order-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other_plan = await start_checkout(stack, user_id, plan_id=2, key="order-42")
    assert other_plan.status_code == 409
    assert other_plan.json()["error"]


async def test_forged_webhook_is_refused_and_changes_nothing(stack, user_id):
    checkout = (await start_checkout(stack, user_id)).json()
    async with stack.sandbox() as sandbox:
        await sandbox.post("/sandbox/knobs", json={"drop": True})
        try:
            payment = await pay(stack, checkout["preferenceId"])
        finally:
            await sandbox.post("/sandbox/knobs", json={"drop": False})
    payment_id = str(payment["id"])
    body = {"action": "payment.updated", "api_version": "v1", "data": {"id": payment_id}, "type": "payment"}
    async with httpx.AsyncClient(base_url=stack.config.api_url) as client:
        forged = await client.post(
            f"/api/webhooks/mercadopago?data.id={payment_id}&type=payment",
            json=body,
            headers={"x-signature": "ts=1742505638683,v1=" + "0" * 64, "x-request-id": "forged-1"},
        )
        unsigned = await client.post(f"/api/webhooks/mercadopago?data.id={payment_id}&type=payment", json=body)
    assert forged.status_code == 401 and forged.json()["error"]
    assert unsigned.status_code == 401
    async with stack.api(user_id) as api:
        assert (await api.get(f"/api/payments/user/{user_id}")).json() == []
        assert (await api.get(f"/api/subscriptions/user/{user_id}")).status_code == 404


async def test_unknown_plan_is_404_with_the_error_shape(stack, user_id):
    answer = await start_checkout(stack, user_id, plan_id=999)
    assert answer.status_code == 404
    assert set(answer.json()) == {"error", "message"}
