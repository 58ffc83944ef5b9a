"""MercadoPago down (503) or slow (beyond our timeout) while payments come in: the worker's
circuit breaker stops hammering it, and every saga completes once it is back.

The outage lasts PAYSAGA_MP_OUTAGE_SECONDS (10 s here; 60 shows "a minute"). Its cost is
measured on the sandbox, which counts every call it receives, and compared with what the
activities' retry policy would have sent without a breaker: every attempt a call.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import httpx
import pytest

from tests.e2e.purchases import knobs, ledger, new_checkout, reset_knobs, wait_subscription
from tests.load.burst import send_webhook
from workflows import activity_options

OUTAGE_SECONDS = float(os.environ.get("PAYSAGA_MP_OUTAGE_SECONDS", "10"))
SAGAS = 20
THRESHOLD, COOLDOWN, TIMEOUT = 3, 3.0, 2.0


@pytest.fixture(scope="module")
def stack(proxied_stack):
    running, _ = proxied_stack
    env = running.config.env  # the breaker as the shared fault stack configures it
    assert (
        env["MERCADOPAGO_BREAKER_FAILURES"],
        env["MERCADOPAGO_BREAKER_COOLDOWN_SECONDS"],
        env["MERCADOPAGO_TIMEOUT_SECONDS"],
    ) == (str(THRESHOLD), str(int(COOLDOWN)), str(int(TIMEOUT)))
    return running


def attempts_without_breaker(window: float) -> int:
    """Attempts one activity makes in `window` seconds under the MercadoPago retry policy."""
    policy = activity_options.MERCADOPAGO["retry_policy"]
    at, interval, attempts = 0.0, policy.initial_interval.total_seconds(), 0
    while at < window:
        attempts += 1
        at += interval
        interval = min(interval * policy.backoff_coefficient, policy.maximum_interval.total_seconds())
    return attempts


async def sandbox_calls(stack, operation: str) -> int:
    async with stack.sandbox() as sandbox:
        return (await sandbox.get("/sandbox/calls")).json().get(operation, 0)


async def short_circuited(stack, operation: str) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{stack.config.worker_metrics_port}/metrics")).text
    pattern = r'^paysaga_mercadopago_short_circuited_total\{operation="%s"\} (\S+)$' % operation  # noqa: UP031 - regex braces
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


async def paid_checkouts(stack, users: range) -> list[str]:
    """A checkout per user, paid on the sandbox without its own notifications."""

    async def one(user_id: int) -> str:
        checkout = await new_checkout(stack, user_id)
        async with stack.sandbox() as sandbox:
            paid = await sandbox.post(
                "/sandbox/payments",
                json={"preference_id": checkout["preferenceId"], "status": "approved", "notify": False},
            )
        return str(paid.json()["id"])

    return list(await asyncio.gather(*(one(user) for user in users)))


async def outage(stack, users: range, fault: dict, capsys) -> None:
    await reset_knobs(stack)
    payments = await paid_checkouts(stack, users)
    calls_before = await sandbox_calls(stack, "get_payment")
    refused_before = await short_circuited(stack, "get_payment")
    await knobs(stack, fail={"get_payment": {**fault, "count": -1}})
    started = time.monotonic()
    answers = await asyncio.gather(*(send_webhook(stack, payment_id) for payment_id in payments))
    assert [a.status_code for a in answers] == [200] * len(payments)  # accepted: MercadoPago is not needed
    await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))  # the outage itself
    await knobs(stack, fail={"get_payment": None})
    window = time.monotonic() - started
    calls = await sandbox_calls(stack, "get_payment") - calls_before
    refused = await short_circuited(stack, "get_payment") - refused_before

    recovered = time.monotonic()
    for user_id in users:
        await wait_subscription(stack, user_id, "ACTIVE", timeout=60)
    for user_id in users:
        assert len(await ledger(stack, user_id)) == 1
    without = SAGAS * attempts_without_breaker(window)
    with capsys.disabled():
        print(
            f"\nMercadoPago {fault} for {window:.0f}s: {calls} calls received, {refused:.0f} attempts refused by"
            f" the breaker (without it: ~{without} calls); all {SAGAS} sagas done"
            f" {time.monotonic() - recovered:.1f}s after it came back"
        )
    assert refused > 0
    # the first wave of attempts goes out before the breaker knows; then one trial per cool-down
    assert calls <= SAGAS + THRESHOLD + window / COOLDOWN + 2, calls
    assert calls <= without / 2, (calls, without)


async def test_mercadopago_down_opens_the_breaker_and_sagas_resume(stack, capsys):
    await outage(stack, range(810_000, 810_000 + SAGAS), {"status": 503}, capsys)


async def test_mercadopago_slow_beyond_the_timeout_opens_the_breaker_too(stack, capsys):
    await outage(
        stack, range(820_000, 820_000 + SAGAS), {"status": None, "delay_ms": int(TIMEOUT * 1000) + 1500}, capsys
    )
