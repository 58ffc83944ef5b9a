"""One stack of real processes with everything operators rely on switched on: traces exported
over OTLP/HTTP to a receiver in this test process, payloads encrypted (a rotated key too), the
Temporal UI's origin allowed on the codec server. One purchase runs through it for all tests."""

from __future__ import annotations

import pytest

from tests.observability.observed import (
    CURRENT_KEY,
    OLD_KEY,
    UI_ORIGIN,
    Observed,
    Purchase,
    next_user_id,
    sandbox,
    start_checkout,
)
from tests.observability.otlp_receiver import OtlpReceiver
from tests.support.databases import sqlite_url
from tests.support.stack import RunningStack, started_stack
from tests.support.waiting import eventually


@pytest.fixture(scope="package")
def observed(tmp_path_factory):
    receiver = OtlpReceiver().start()
    var_dir = tmp_path_factory.mktemp("observed-stack")
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: spans reach the receiver promptly
        "PAYLOAD_ENCRYPTION_KEY": CURRENT_KEY,
        "PAYLOAD_DECRYPTION_KEYS": OLD_KEY,
        "TEMPORAL_UI_ORIGIN": UI_ORIGIN,
    }
    try:
        stack = started_stack(var_dir, sqlite_url(var_dir), env=env)
    except BaseException:
        receiver.stop()
        raise
    try:
        yield Observed(RunningStack(stack, "sqlite"), receiver)
    finally:
        stack.stop()
        receiver.stop()


@pytest.fixture(scope="package")
async def purchase(observed) -> Purchase:
    """A checkout paid (approved) and its subscription ACTIVE."""
    user_id = next_user_id()
    checkout = await start_checkout(observed, user_id)
    paid = await sandbox(
        observed, "POST", "/sandbox/payments", json={"preference_id": checkout["preferenceId"], "status": "approved"}
    )

    async def active():
        async with observed.running.api(user_id) as api:
            answer = await api.get(f"/api/subscriptions/user/{user_id}")
        return answer.status_code == 200 and answer.json()["status"] == "ACTIVE"

    await eventually(active, timeout=30, what="subscription ACTIVE")
    payment = await sandbox(observed, "GET", f"/v1/payments/{paid['id']}", headers={"Authorization": "Bearer test"})
    assert payment["payer"]["email"], payment
    return Purchase(user_id=user_id, checkout=checkout, payment=payment)
