"""What a buyer, MercadoPago and the frontend do, as small async steps for the e2e tests."""

from __future__ import annotations

import uuid

import httpx

from tests.support.checkouts import CheckoutCall, assert_created, start_checkout_retrying
from tests.support.waiting import eventually


async def start_checkout(
    stack, user_id: int, plan_id: int = 1, key: str | None = None, call: CheckoutCall | None = None
) -> httpx.Response:
    """POST the checkout with `key` (a fresh one when None), retrying `503 checkout_busy` with the
    same key after its Retry-After, as the frontend does: a slow first checkout on a loaded
    machine is answered on a retry, as the same checkout. Any other answer is returned as it came;
    `call` records every try."""
    async with stack.api(user_id) as api:
        return await start_checkout_retrying(api, user_id, plan_id, key=key, call=call)


async def new_checkout(stack, user_id: int, plan_id: int = 1) -> dict:
    call = CheckoutCall(uuid.uuid4().hex)
    return assert_created(await start_checkout(stack, user_id, plan_id, call=call), call)


async def pay(stack, preference_id: str, status: str = "approved", **overrides) -> dict:
    """The buyer pays on MercadoPago (the sandbox), which notifies us as configured by its knobs."""
    async with stack.sandbox() as sandbox:
        answer = await sandbox.post(
            "/sandbox/payments", json={"preference_id": preference_id, "status": status, **overrides}
        )
        answer.raise_for_status()
        return answer.json()


async def set_payment_status(stack, payment_id, status: str, notify: bool = True) -> dict:
    async with stack.sandbox() as sandbox:
        answer = await sandbox.post(f"/sandbox/payments/{payment_id}/status", json={"status": status, "notify": notify})
        answer.raise_for_status()
        return answer.json()


async def renotify(stack, payment_id, action: str = "payment.updated") -> None:
    async with stack.sandbox() as sandbox:
        (await sandbox.post(f"/sandbox/payments/{payment_id}/notify", json={"action": action})).raise_for_status()


async def knobs(stack, **values) -> None:
    async with stack.sandbox() as sandbox:
        (await sandbox.post("/sandbox/knobs", json=values)).raise_for_status()


async def reset_knobs(stack) -> None:
    async with stack.sandbox() as sandbox:
        (await sandbox.post("/sandbox/reset", json={})).raise_for_status()


async def sandbox_payment(stack, payment_id) -> dict:
    async with stack.sandbox() as sandbox:
        return (await sandbox.get(f"/v1/payments/{payment_id}", headers={"Authorization": "Bearer test"})).json()


async def subscription_of(stack, user_id: int) -> dict | None:
    async with stack.api(user_id) as api:
        answer = await api.get(f"/api/subscriptions/user/{user_id}")
    return answer.json() if answer.status_code == 200 else None


async def wait_subscription(stack, user_id: int, status: str, *, timeout: float = 30, where=None) -> dict:
    async def probe():
        subscription = await subscription_of(stack, user_id)
        if subscription and subscription["status"] == status and (where is None or where(subscription)):
            return subscription
        return None

    return await eventually(probe, timeout=timeout, what=f"user {user_id}'s subscription {status}")


async def checkout_status(stack, user_id: int, checkout_id: str) -> dict:
    async with stack.api(user_id) as api:
        return (await api.get(f"/api/checkouts/{checkout_id}")).json()


async def wait_checkout(stack, user_id: int, checkout_id: str, status: str, timeout: float = 30) -> dict:
    async def probe():
        answer = await checkout_status(stack, user_id, checkout_id)
        return answer if answer.get("status") == status else None

    return await eventually(probe, timeout=timeout, what=f"checkout {checkout_id} {status}")


async def payments_of(stack, user_id: int) -> list[dict]:
    async with stack.api(user_id) as api:
        return (await api.get(f"/api/payments/user/{user_id}")).json()


async def wait_payment(stack, user_id: int, mercadopago_payment_id, status: str, timeout: float = 30) -> dict:
    async def probe():
        for payment in await payments_of(stack, user_id):
            if payment["mercadopagoPaymentId"] == str(mercadopago_payment_id) and payment["status"] == status:
                return payment
        return None

    return await eventually(probe, timeout=timeout, what=f"payment {mercadopago_payment_id} {status}")


async def ledger(stack, user_id: int) -> list[dict]:
    return await stack.rows(
        "SELECT mercadopago_payment_id, period_start, period_end, reversed_at FROM subscription_ledger"
        " WHERE user_id = :user_id ORDER BY id",
        user_id=user_id,
    )


async def audit_actions(stack, user_id: int | None = None, payment_id: str | None = None) -> list[str]:
    where, params = [], {}
    if user_id is not None:
        where.append("user_id = :user_id")
        params["user_id"] = user_id
    if payment_id is not None:
        where.append("mercadopago_payment_id = :payment_id")
        params["payment_id"] = payment_id
    clause = " WHERE " + " AND ".join(where) if where else ""
    rows = await stack.rows(f"SELECT action FROM audit_log{clause} ORDER BY id", **params)
    return [row["action"] for row in rows]
