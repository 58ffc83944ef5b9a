"""Crashes mid-saga: the worker killed, Temporal down while MercadoPago notifies us."""

from __future__ import annotations

from tests.e2e.purchases import knobs, ledger, new_checkout, pay, reset_knobs, wait_subscription
from tests.support.waiting import eventually


async def deliveries(stack, payment_id) -> list[dict]:
    async with stack.sandbox() as sandbox:
        return (await sandbox.get("/sandbox/deliveries", params={"payment_id": str(payment_id)})).json()


async def test_a_worker_killed_mid_saga_completes_it_once_restarted(stack, user_id):
    await reset_knobs(stack)
    checkout = await new_checkout(stack, user_id)
    # the read-back hangs long enough for the worker to die in the middle of it
    await knobs(stack, fail={"get_payment": {"status": 200, "count": 1, "delay_ms": 2500}})
    payment = await pay(stack, checkout["preferenceId"])
    await eventually(lambda: _answered(stack, payment["id"], 200), what="webhook accepted")
    stack.stack.processes["worker"].kill()
    stack.stack.processes["worker"].start()
    await wait_subscription(stack, user_id, "ACTIVE", timeout=60)
    assert len(await ledger(stack, user_id)) == 1
    await reset_knobs(stack)


async def test_temporal_down_answers_503_and_the_redelivery_is_applied_once(stack, user_id):
    await reset_knobs(stack)
    await knobs(stack, retry_delays_ms=[1000, 2000, 3000, 4000, 8000, 15000])
    checkout = await new_checkout(stack, user_id)
    temporal = stack.stack.processes["temporal"]
    temporal.stop()
    try:
        payment = await pay(stack, checkout["preferenceId"])
        await eventually(lambda: _answered(stack, payment["id"], 503), what="webhook refused with 503")
    finally:
        temporal.start()
    await wait_subscription(stack, user_id, "ACTIVE", timeout=60)
    assert len(await ledger(stack, user_id)) == 1
    await reset_knobs(stack)


async def _answered(stack, payment_id, status: int) -> bool:
    return any(d["status_code"] == status and d["kind"] == "webhook" for d in await deliveries(stack, payment_id))
