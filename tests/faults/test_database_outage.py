"""PostgreSQL unreachable for 20 s in the middle of sagas: webhooks are still accepted (Temporal
holds them), /readyz says the database is not ok, activities retry, and once it is back every
payment is applied exactly once.

The machine's PostgreSQL keeps running (others use it): the stack reaches it through a loopback
proxy whose link is cut. PAYSAGA_DB_OUTAGE_SECONDS sets the outage (20 s).
"""
from __future__ import annotations

import asyncio
import os
import time

import pytest
from tests.e2e.purchases import ledger, new_checkout, wait_subscription
from tests.load.burst import send_webhook
from tests.support.databases import skip_unless_postgres
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

OUTAGE_SECONDS = float(os.environ.get("PAYSAGA_DB_OUTAGE_SECONDS", "20"))
USERS = range(830_000, 830_010)


@pytest.fixture(scope="module")
def stack(proxied_stack):
    skip_unless_postgres()
    return proxied_stack[0]


@pytest.fixture(scope="module")
def link(proxied_stack) -> TcpProxy:
    return proxied_stack[1]


async def readiness(stack) -> tuple[int, dict]:
    async with stack.api() as api:
        answer = await api.get("/readyz")
    return answer.status_code, answer.json()


async def test_database_unreachable_mid_saga_loses_nothing(stack, link, capsys):
    payments = []
    for user_id in USERS:
        checkout = await new_checkout(stack, user_id)
        async with stack.sandbox() as sandbox:
            paid = await sandbox.post("/sandbox/payments", json={
                "preference_id": checkout["preferenceId"], "status": "approved", "notify": False})
        payments.append(str(paid.json()["id"]))
    assert (await readiness(stack))[0] == 200

    link.cut()
    started = time.monotonic()
    try:
        status, body = await eventually(lambda: _not_ready(stack), timeout=10, what="/readyz reporting the database")
        assert status == 503 and body["database"] == "unavailable" and body["temporal"] == "ok"
        assert body["error"] == "not_ready"
        # MercadoPago's notifications are accepted meanwhile: Temporal holds them, not the database
        answers = await asyncio.gather(*(send_webhook(stack, payment_id) for payment_id in payments))
        assert [a.status_code for a in answers] == [200] * len(payments)
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))  # the outage itself
        assert (await readiness(stack))[0] == 503
    finally:
        link.restore()
    back = time.monotonic()

    await eventually(lambda: _ready(stack), timeout=15, what="/readyz ready again")
    for user_id in USERS:
        await wait_subscription(stack, user_id, "ACTIVE", timeout=90)
    for user_id in USERS:
        assert len(await ledger(stack, user_id)) == 1
    with capsys.disabled():
        print(f"\nPostgreSQL cut for {back - started:.0f}s ({link.refused} connections refused): "
              f"{len(payments)} payments applied once, {time.monotonic() - back:.1f}s after it came back")


async def _not_ready(stack):
    status, body = await readiness(stack)
    return (status, body) if status == 503 else None


async def _ready(stack):
    return (await readiness(stack))[0] == 200
