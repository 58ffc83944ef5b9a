"""Load MercadoPago puts on us and we put on it, on the real stack: a daily reconciliation over
thousands of payments, floods of notifications for ids MercadoPago does not know, and 429s."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import insert

from config.settings import DEV_WEBHOOK_SECRET
from store.database import create_engine
from store.models import PaymentRow
from tests.api.helpers import signed_webhook
from tests.e2e.purchases import (
    audit_actions,
    knobs,
    new_checkout,
    pay,
    renotify,
    start_checkout,
    wait_subscription,
)
from tests.support.stack import stack_on
from tests.support.waiting import eventually
from workflows.ids import payment_workflow_id
from workflows.reconciliation import SCHEDULE_ID
from workflows.reconciliation_messages import ReconcileReport

# a short back-off for unknown ids, so a test sees the read that follows it
RECHECK_SECONDS = 15
# no activity result, no continue-as-new input may come near Temporal's 2 MB payload limit
PAYLOAD_BOUND = 256 * 1024


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    env = {"UNKNOWN_PAYMENT_RECHECK_AFTER": f"PT{RECHECK_SECONDS}S"}
    with stack_on(request.param, tmp_path_factory.mktemp(f"pressure-{request.param}"), env) as running:
        yield running


# reconciliation -------------------------------------------------------------------------
async def test_reconciliation_pages_through_thousands_of_payments(stack):
    async with stack.sandbox() as sandbox:
        seeded = (
            await sandbox.post(
                "/sandbox/payments/bulk", json={"count": 3000, "spread_hours": 24, "external_reference": "SEEDED"}
            )
        ).json()["ids"]
        in_window = (
            await sandbox.get(
                "/v1/payments/search",
                headers={"Authorization": "Bearer test"},
                params={"range": "date_created", "begin_date": "NOW-2DAYS", "end_date": "NOW", "limit": 1},
            )
        ).json()["paging"]["total"]
    missing = {str(i) for i in seeded[::300]}  # ten the notifications never brought in
    await _store_as_known([str(i) for i in seeded if str(i) not in missing], stack)

    client = await stack.temporal()
    await client.get_schedule_handle(SCHEDULE_ID).trigger()

    async def started():
        return [w async for w in client.list_workflows("WorkflowType = 'ReconciliationWorkflow'")]

    workflow_id = (await eventually(started, what="reconciliation started"))[0].id
    report = await client.get_workflow_handle(workflow_id, result_type=ReconcileReport).result()

    assert report.checked == in_window >= 3000
    assert report.drifted_count == len(missing) and set(report.drifted) == missing
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) >= 2  # it continued as new between pages, carrying its cursor
    largest = 0
    for run in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        largest = max(largest, _largest_payload(history))
    assert 0 < largest < PAYLOAD_BOUND

    # every missing payment was handed to its payment workflow, which read it back and stored it
    async def stored():
        rows = await stack.rows("SELECT mercadopago_payment_id FROM payments WHERE external_reference = 'SEEDED'")
        return len(rows) == len(seeded)

    await eventually(stored, timeout=60, what="missing payments stored")
    assert await _worker_metric(stack, "paysaga_reconciliation_last_success_timestamp_seconds") > 0
    assert await _worker_metric(stack, "paysaga_reconciliation_last_checked_payments") == report.checked


async def _store_as_known(payment_ids: list[str], stack) -> None:
    """The read model already holds these, as their notifications would have left them."""
    now = datetime.now(UTC)
    engine = create_engine(stack.config.database)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(PaymentRow),
                [
                    {
                        "mercadopago_payment_id": pid,
                        "amount": Decimal("10"),
                        "amount_refunded": Decimal("0"),
                        "currency": "ARS",
                        "status": "APPROVED",
                        "external_reference": "SEEDED",
                        "created_at": now,
                        "approved_at": now,
                        "updated_at": now,
                    }
                    for pid in payment_ids
                ],
            )
    finally:
        await engine.dispose()


def _largest_payload(history) -> int:
    sizes = [0]
    for event in history.events:
        if event.HasField("activity_task_completed_event_attributes"):
            sizes += [p.ByteSize() for p in event.activity_task_completed_event_attributes.result.payloads]
        if event.HasField("marker_recorded_event_attributes"):
            sizes += [
                p.ByteSize()
                for payloads in event.marker_recorded_event_attributes.details.values()
                for p in payloads.payloads
            ]
        if event.HasField("workflow_execution_continued_as_new_event_attributes"):
            sizes += [p.ByteSize() for p in event.workflow_execution_continued_as_new_event_attributes.input.payloads]
    return max(sizes)


# unknown payment ids ----------------------------------------------------------------------
async def test_a_flood_of_notifications_for_an_unknown_id_reads_it_once_and_audits_nothing(stack):
    unknown = "987654321012"
    before = await _worker_metric(stack, "paysaga_mercadopago_unknown_payments_total")
    gate = asyncio.Semaphore(20)

    async def notify(api: httpx.AsyncClient) -> int:
        hook = signed_webhook(unknown, secret=DEV_WEBHOOK_SECRET)
        async with gate:
            return (await api.post(hook.url, content=hook.body, headers=hook.headers)).status_code

    async with httpx.AsyncClient(base_url=stack.config.api_url, timeout=15) as api:
        answers = await asyncio.gather(*(notify(api) for _ in range(200)))
    assert answers == [200] * 200

    # each 200 came once its hint was handed to the payment's workflow (duplicates may share a
    # signal): wait until that workflow has taken them all in
    client = await stack.temporal()

    async def settled():
        if await _reads(stack, unknown) < 1:
            return False
        described = await client.get_workflow_handle(payment_workflow_id(unknown)).describe()
        return not described.raw_description.HasField("pending_workflow_task")

    await eventually(settled, timeout=60, what="the unknown payment's workflow idle")

    # one read, and one more once the back-off window is over (hints came meanwhile)
    assert 1 <= await _reads(stack, unknown) <= 2
    assert await audit_actions(stack, payment_id=unknown) == []
    assert await _worker_metric(stack, "paysaga_mercadopago_unknown_payments_total") - before == await _reads(
        stack, unknown
    )


async def test_a_payment_notified_before_mercadopago_serves_it_is_still_read(stack, user_id):
    # MercadoPago notifies a moment before its API serves the payment: the first read is a 404
    await knobs(stack, fail={"get_payment": {"status": 404, "count": 1}})
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    await eventually(lambda: _reads(stack, payment["id"]), what="first read")
    await renotify(stack, payment["id"])  # MercadoPago's retry, absorbed by the back-off window
    await wait_subscription(stack, user_id, "ACTIVE", timeout=RECHECK_SECONDS + 30)
    assert "payment.unreadable" not in await audit_actions(stack, payment_id=str(payment["id"]))


# 429 ----------------------------------------------------------------------------------------
async def test_throttling_does_not_open_the_breaker_and_the_payment_is_read_after_it(stack, user_id):
    throttled_before = await _worker_metric(stack, 'paysaga_mercadopago_throttled_total{operation="get_payment"}')
    # more 429s in a row than the breaker's failure threshold (5)
    await knobs(stack, fail={"get_payment": {"status": 429, "count": 7}})
    checkout = await new_checkout(stack, user_id)
    await pay(stack, checkout["preferenceId"])

    async def throttling_over():
        async with stack.sandbox() as sandbox:
            return "get_payment" not in (await sandbox.get("/sandbox/knobs")).json()["fail"]

    await eventually(throttling_over, timeout=30, what="seven 429s answered")

    # checkouts are still created at once: the circuit did not open
    assert await _worker_metric(stack, "paysaga_mercadopago_circuit_open") == 0
    answer = await start_checkout(stack, user_id)
    assert answer.status_code == 201, answer.text
    await wait_subscription(stack, user_id, "ACTIVE", timeout=30)
    throttled = await _worker_metric(stack, 'paysaga_mercadopago_throttled_total{operation="get_payment"}')
    assert throttled - throttled_before == 7


async def _reads(stack, payment_id) -> int:
    async with stack.sandbox() as sandbox:
        return (await sandbox.get(f"/sandbox/payments/{payment_id}/reads")).json()["reads"]


async def _worker_metric(stack, series: str) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{stack.config.worker_metrics_port}/metrics")).text
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"{series} not served"
    return float(match.group(1))
