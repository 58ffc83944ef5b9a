"""Reads of the read model: exact camelCase fields, decimal strings, ISO-8601 UTC times."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api.helpers import ADMIN, ALICE, BOB, NOW, bearer, serve

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
SUBSCRIPTION_FIELDS = {
    "subscriptionId",
    "userId",
    "planId",
    "status",
    "startDate",
    "endDate",
    "autoRenew",
    "createdAt",
    "updatedAt",
}


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0, text
    return parsed


async def test_plans_are_the_catalogue(make_settings):
    async with serve(make_settings()) as client:
        response = await client.get("/api/plans")
    assert response.status_code == 200
    plans = {plan["id"]: plan for plan in response.json()}
    assert plans[1] == {
        "id": 1,
        "code": "BASIC",
        "name": "Plan BASIC",
        "price": "9.99",
        "currency": "ARS",
        "billingCycle": "monthly",
    }
    assert plans[9]["billingCycle"] == "PT20S" and plans[9]["price"] == "1.00"


async def test_payment_by_id(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/payments/{seed.alice_approved}", headers=bearer(settings, ALICE))
    assert response.status_code == 200
    payment = response.json()
    assert set(payment) == PAYMENT_FIELDS
    assert payment["paymentId"] == seed.alice_approved
    assert payment["mercadopagoPaymentId"] == "1304123923"
    assert (payment["userId"], payment["planId"]) == (ALICE, 2)
    assert payment["amount"] == "19.99" and payment["currency"] == "ARS"
    assert (payment["status"], payment["statusDetail"]) == ("APPROVED", "accredited")
    assert payment["externalReference"] == "PLAN-2-USER-1-abc12345"
    assert (payment["paymentMethod"], payment["paymentType"]) == ("master", "credit_card")
    assert _utc(payment["createdAt"]) == NOW - timedelta(days=2)
    assert _utc(payment["approvedAt"]) == NOW - timedelta(days=2) + timedelta(seconds=5)


async def test_amounts_are_decimal_strings_with_cents(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/payments/{seed.bob_payment}", headers=bearer(settings, BOB))
    assert response.json()["amount"] == "10.00"


async def test_unknown_payment_is_404_to_an_admin_and_403_to_a_user(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get("/api/payments/999999", headers=bearer(settings, ADMIN, roles=["admin"]))
        as_user = await client.get("/api/payments/999999", headers=bearer(settings, ALICE))
    assert response.status_code == 404
    assert response.json() == {"error": "payment_not_found", "message": "payment 999999 does not exist"}
    # a user cannot tell a missing payment from another user's (tests/api/test_existence_oracle.py)
    assert as_user.status_code == 403 and as_user.json()["error"] == "forbidden"


async def test_user_payments_newest_first_and_approved_only(make_settings, seed):
    settings = make_settings()
    alice = bearer(settings, ALICE)
    async with serve(settings) as client:
        every = (await client.get(f"/api/payments/user/{ALICE}", headers=alice)).json()
        approved = (await client.get(f"/api/payments/user/{ALICE}/approved", headers=alice)).json()
        nobody = await client.get("/api/payments/user/12345", headers=bearer(settings, ADMIN, roles=["admin"]))
    assert [payment["paymentId"] for payment in every] == seed.alice_payments
    assert all(set(payment) == PAYMENT_FIELDS for payment in every)
    assert every[0]["approvedAt"] is None
    assert [payment["paymentId"] for payment in approved] == [seed.alice_approved]
    assert nobody.status_code == 200 and nobody.json() == []


async def test_subscription_of_a_user(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/subscriptions/user/{ALICE}", headers=bearer(settings, ALICE))
        active = await client.get(f"/api/subscriptions/user/{ALICE}/active", headers=bearer(settings, ALICE))
        bobs_active = await client.get(f"/api/subscriptions/user/{BOB}/active", headers=bearer(settings, BOB))
        missing = await client.get("/api/subscriptions/user/77", headers=bearer(settings, 77))
    assert response.status_code == 200
    subscription = response.json()
    assert set(subscription) == SUBSCRIPTION_FIELDS
    assert subscription["subscriptionId"] == seed.alice_subscription
    assert (subscription["userId"], subscription["planId"], subscription["status"]) == (ALICE, 2, "ACTIVE")
    assert subscription["autoRenew"] is False
    assert _utc(subscription["endDate"]) > _utc(subscription["startDate"])
    assert [s["subscriptionId"] for s in active.json()] == [seed.alice_subscription]
    assert bobs_active.json() == []  # cancelled
    assert missing.status_code == 404 and missing.json()["error"] == "subscription_not_found"


async def test_checkout_status(make_settings, seed):
    settings = make_settings()
    alice = bearer(settings, ALICE)
    async with serve(settings) as client:
        paid = (await client.get(f"/api/checkouts/{seed.alice_checkout}", headers=alice)).json()
        waiting = (await client.get(f"/api/checkouts/{seed.bare_checkout}", headers=alice)).json()
        unknown = await client.get("/api/checkouts/nope", headers=bearer(settings, ADMIN, roles=["admin"]))
        unknown_to_alice = await client.get("/api/checkouts/nope", headers=alice)
    assert paid == {
        "checkoutId": seed.alice_checkout,
        "status": "COMPLETED",
        "externalReference": "PLAN-2-USER-1-abc12345",
        "paymentId": seed.alice_approved,
    }
    assert waiting["status"] == "AWAITING_PAYMENT" and waiting.get("paymentId") is None
    assert unknown.status_code == 404 and unknown.json()["error"] == "checkout_not_found"
    assert unknown_to_alice.status_code == 403 and unknown_to_alice.json()["error"] == "forbidden"


async def test_cancelling_a_cancelled_subscription_is_idempotent_without_temporal(make_settings, seed):
    settings = make_settings()  # Temporal is down: the row already says CANCELLED
    async with serve(settings) as client:
        response = await client.post(
            f"/api/subscriptions/{seed.bob_subscription}/cancel", headers=bearer(settings, BOB)
        )
        missing = await client.post("/api/subscriptions/424242/cancel", headers=bearer(settings, BOB))
    assert response.status_code == 200
    assert response.json()["subscriptionId"] == seed.bob_subscription
    assert response.json()["status"] == "CANCELLED" and response.json()["message"]
    assert missing.status_code == 403 and missing.json()["error"] == "forbidden"  # as another user's


async def test_cancel_with_temporal_down_is_503(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.post(
            f"/api/subscriptions/{seed.alice_subscription}/cancel", headers=bearer(settings, ALICE)
        )
    assert response.status_code == 503
    assert response.json()["error"] == "temporal_unavailable"
