"""Record workflow histories for the replay tests: `python -m tests.replay.record_histories`.

Runs the real stack on SQLite, drives a few purchases through it and writes the histories of
every workflow involved to tests/replay/histories/. Re-record only when a workflow change is
meant to be incompatible (and then version it with workflow.patched instead, where histories
may still be running).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from devstack.stack import Stack
from tests.e2e.purchases import (
    knobs,
    new_checkout,
    pay,
    reset_knobs,
    set_payment_status,
    wait_checkout,
    wait_subscription,
)
from tests.support.databases import sqlite_url
from tests.support.stack import RunningStack, free_stack_config
from workflows.ids import checkout_workflow_id, payment_workflow_id, subscription_workflow_id
from workflows.reconciliation import SCHEDULE_ID
from workflows.retention import SCHEDULE_ID as RETENTION_SCHEDULE_ID

HISTORIES = Path(__file__).with_name("histories")


async def record(stack: RunningStack) -> None:
    client = await stack.temporal()
    histories: dict[str, str] = {}

    # a paid checkout, its payment workflow, the subscription it activated, then refunded
    paid = await new_checkout(stack, 1)
    payment = await pay(stack, paid["preferenceId"])
    await wait_subscription(stack, 1, "ACTIVE")
    await wait_checkout(stack, 1, paid["checkoutId"], "COMPLETED")
    await set_payment_status(stack, payment["id"], "refunded")
    await wait_subscription(stack, 1, "EXPIRED")
    histories["checkout_paid"] = checkout_workflow_id(paid["checkoutId"])
    histories["payment_refunded"] = payment_workflow_id(str(payment["id"]))

    # an underpaid checkout: compensated with a refund
    underpaid = await new_checkout(stack, 2)
    await pay(stack, underpaid["preferenceId"], amount="1.00")
    await wait_checkout(stack, 2, underpaid["checkoutId"], "REFUNDED")
    histories["checkout_refunded"] = checkout_workflow_id(underpaid["checkoutId"])

    # a checkout nobody paid: reconciled at its deadline, then expired
    abandoned = await new_checkout(stack, 3)
    await wait_checkout(stack, 3, abandoned["checkoutId"], "EXPIRED", timeout=60)
    histories["checkout_expired"] = checkout_workflow_id(abandoned["checkoutId"])

    # the daily reconciliation, run once
    await client.get_schedule_handle(SCHEDULE_ID).trigger()
    runs = []
    for _ in range(100):
        runs = [
            w
            async for w in client.list_workflows(
                "WorkflowType = 'ReconciliationWorkflow' AND ExecutionStatus = 'Completed'"
            )
        ]
        if runs:
            break
        await asyncio.sleep(0.2)
    histories["reconciliation"] = runs[0].id

    for workflow_id in histories.values():
        await _wait_closed_or_current(client, workflow_id)
    # the subscription never closes: its history so far is what a replay must accept
    histories["subscription_activated_then_refunded"] = subscription_workflow_id(1)
    await _save(client, histories)
    await record_retention(stack)


async def record_retention(stack: RunningStack) -> None:
    """The retention purge, run once by its schedule."""
    client = await stack.temporal()
    await client.get_schedule_handle(RETENTION_SCHEDULE_ID).trigger()
    runs = []
    for _ in range(100):
        runs = [
            w
            async for w in client.list_workflows("WorkflowType = 'RetentionWorkflow' AND ExecutionStatus = 'Completed'")
        ]
        if runs:
            break
        await asyncio.sleep(0.2)
    await _save(client, {"retention": runs[0].id})


async def record_retention_until_done(stack: RunningStack) -> None:
    """A retention run that purges until nothing past its age is left: more batches than one run
    takes, so its first run continues as new."""
    from datetime import timedelta

    from sqlalchemy import text

    from store.database import create_engine
    from store.models import utcnow
    from workflows.retention import RetentionWorkflow
    from workflows.retention_messages import PurgeBatch

    engine = create_engine(stack.config.database)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO webhook_events (received_at, topic, resource_id, signature_valid, outcome)"
                    " VALUES (:at, 'payment', :rid, true, 'accepted')"
                ),
                [{"at": utcnow() - timedelta(days=400), "rid": str(n)} for n in range(5)],
            )
    finally:
        await engine.dispose()
    client = await stack.temporal()
    task_queue = (await client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()).schedule.action.task_queue
    handle = await client.start_workflow(
        RetentionWorkflow.run, PurgeBatch(limit=2, batches_per_run=2), id="retention-until-done", task_queue=task_queue
    )
    await handle.result()
    first_run = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await first_run.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / "retention_continued_as_new.json").write_text(json.dumps(history.to_json_dict(), indent=1))
    await _save(client, {"retention_until_done": handle.id})


async def record_local_first(stack: RunningStack) -> None:
    """MercadoPago calls made as a local activity first: a paid checkout and its read-back, a
    read-back whose local attempt failed and was retried as an activity, and one of a payment
    MercadoPago does not know (no retry can fix that: audited)."""
    client = await stack.temporal()
    paid = await new_checkout(stack, 4)
    payment = await pay(stack, paid["preferenceId"])
    await wait_checkout(stack, 4, paid["checkoutId"], "COMPLETED")
    await knobs(stack, fail={"get_payment": {"status": 500, "count": 1}})
    retried = await new_checkout(stack, 5)
    retried_payment = await pay(stack, retried["preferenceId"])
    await wait_checkout(stack, 5, retried["checkoutId"], "COMPLETED")
    await reset_knobs(stack)
    async with stack.api() as mercadopago:  # a notification for a payment MercadoPago does not know
        (await mercadopago.post("/api/webhooks/mercadopago?topic=payment&id=999999999998", json={})).raise_for_status()
    unreadable = payment_workflow_id("999999999998")
    await _wait_closed_or_current(client, unreadable)
    histories = {
        "payment_unreadable_local_first": unreadable,
        "checkout_paid_local_first": checkout_workflow_id(paid["checkoutId"]),
        "payment_local_first": payment_workflow_id(str(payment["id"])),
        "payment_local_then_activity": payment_workflow_id(str(retried_payment["id"])),
    }
    await _save(client, histories)


async def record_after_deprecation(stack: RunningStack) -> None:
    """The purchases of `record`, once the switches workflows/patches.py lists as deprecated were:
    a paid checkout and its payment workflow, an underpaid one (refunded), an abandoned one (expired).
    Their markers are recorded as deprecated."""
    client = await stack.temporal()
    paid = await new_checkout(stack, 7)
    payment = await pay(stack, paid["preferenceId"])
    await wait_checkout(stack, 7, paid["checkoutId"], "COMPLETED")
    underpaid = await new_checkout(stack, 8)
    await pay(stack, underpaid["preferenceId"], amount="1.00")
    await wait_checkout(stack, 8, underpaid["checkoutId"], "REFUNDED")
    abandoned = await new_checkout(stack, 9)
    await wait_checkout(stack, 9, abandoned["checkoutId"], "EXPIRED", timeout=60)
    histories = {
        "checkout_paid_after_deprecation": checkout_workflow_id(paid["checkoutId"]),
        "payment_paid_after_deprecation": payment_workflow_id(str(payment["id"])),
        "checkout_refunded_after_deprecation": checkout_workflow_id(underpaid["checkoutId"]),
        "checkout_expired_after_deprecation": checkout_workflow_id(abandoned["checkoutId"]),
    }
    for workflow_id in histories.values():
        await _wait_closed_or_current(client, workflow_id)
    await _save(client, histories)


async def record_fewer_tasks(stack: RunningStack) -> None:
    """A saga with fewer workflow tasks: the payment workflow hands the payment to its checkout from a local
    activity, and a subscription change and its audit record are one write. Then the payment is
    refunded after its checkout closed, so the payment workflow finds the checkout gone and reverses the
    period itself."""
    client = await stack.temporal()
    paid = await new_checkout(stack, 6)
    payment = await pay(stack, paid["preferenceId"])
    await wait_checkout(stack, 6, paid["checkoutId"], "COMPLETED")
    await wait_subscription(stack, 6, "ACTIVE")
    await set_payment_status(stack, payment["id"], "refunded")
    await wait_subscription(stack, 6, "EXPIRED")
    await wait_checkout(stack, 6, paid["checkoutId"], "REFUNDED")
    histories = {
        "checkout_paid_fewer_tasks": checkout_workflow_id(paid["checkoutId"]),
        "payment_refunded_after_checkout_closed": payment_workflow_id(str(payment["id"])),
        "subscription_audit_in_the_same_write": subscription_workflow_id(6),
    }
    await _wait_closed_or_current(client, histories["payment_refunded_after_checkout_closed"])
    await _save(client, histories)


async def record_as_activity(stack: RunningStack) -> None:
    """MercadoPago called from ordinary activities (CREATE_PREFERENCE_AS_ACTIVITY,
    READ_BACK_AS_ACTIVITY): a paid checkout and its payment workflow, and an unknown payment that
    backs off, reads once more and ends idle."""
    client = await stack.temporal()
    paid = await new_checkout(stack, 10)
    payment = await pay(stack, paid["preferenceId"])
    await wait_checkout(stack, 10, paid["checkoutId"], "COMPLETED")
    unknown = "999999999996"
    async with stack.api() as api:
        for _ in range(3):
            (await api.post(f"/api/webhooks/mercadopago?topic=payment&id={unknown}", json={})).raise_for_status()
    handle = client.get_workflow_handle(payment_workflow_id(unknown))
    await handle.result()
    histories: dict[str, str | tuple[str, str]] = {
        "checkout_paid_as_activity": checkout_workflow_id(paid["checkoutId"]),
        "payment_paid_as_activity": payment_workflow_id(str(payment["id"])),
        "payment_unknown_as_activity": (payment_workflow_id(unknown), handle.result_run_id),
    }
    await _wait_closed_or_current(client, checkout_workflow_id(paid["checkoutId"]))
    await _save(client, histories)


async def record_pressure(stack: RunningStack) -> None:
    """A payment MercadoPago does not know: its workflow absorbs a burst of notifications, reads
    once more after the back-off window, then ends idle. And a reconciliation paged over 300
    payments (three missing from the read model): a first run that continues as new, and the last."""
    from tests.e2e.test_mercadopago_pressure import _store_as_known
    from workflows.reconciliation import ReconciliationWorkflow
    from workflows.reconciliation_messages import ReconcileInput, ReconcileReport

    client = await stack.temporal()
    unknown = "999999999997"
    async with stack.api() as mercadopago:
        for _ in range(5):
            (
                await mercadopago.post(f"/api/webhooks/mercadopago?topic=payment&id={unknown}", json={})
            ).raise_for_status()
    handle = client.get_workflow_handle(payment_workflow_id(unknown))
    await handle.result()  # back-off, one more read for the burst, then idle
    histories = {"payment_unknown_backs_off": (payment_workflow_id(unknown), handle.result_run_id)}

    async with stack.sandbox() as sandbox:
        seeded = (await sandbox.post("/sandbox/payments/bulk", json={"count": 300, "spread_hours": 12})).json()["ids"]
    missing = {str(i) for i in seeded[::100]}
    await _store_as_known([str(i) for i in seeded if str(i) not in missing], stack)
    # small pages, so that a short history already continues as new
    reconciliation = await client.start_workflow(
        ReconciliationWorkflow.run,
        ReconcileInput(page_size=25),
        id="reconciliation-paged",
        task_queue=stack.config.env.get("TEMPORAL_TASK_QUEUE", "payments"),
        result_type=ReconcileReport,
    )
    await reconciliation.result()
    chain = [w async for w in client.list_workflows("WorkflowId = 'reconciliation-paged'")]
    chain.sort(key=lambda w: w.start_time)
    histories["reconciliation_paged_continued"] = ("reconciliation-paged", chain[0].run_id)
    histories["reconciliation_paged_last"] = ("reconciliation-paged", chain[-1].run_id)
    await _save(client, histories)


async def _save(client, histories: dict[str, str | tuple[str, str]]) -> None:
    """Write each workflow's history so far to histories/{name}.json."""
    HISTORIES.mkdir(exist_ok=True)
    for name, workflow in histories.items():
        workflow_id, run_id = workflow if isinstance(workflow, tuple) else (workflow, None)
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1))


async def _wait_closed_or_current(client, workflow_id: str) -> None:
    from temporalio.client import WorkflowExecutionStatus

    for _ in range(200):
        description = await client.get_workflow_handle(workflow_id).describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return
        await asyncio.sleep(0.1)


def main() -> None:
    """`... record_histories retention` (or `local-first`, `fewer-tasks`, `pressure`, `retention-until-done`,
    `after-deprecation`, `as-activity`) records only that scenario."""
    name = " ".join(sys.argv[1:])
    scenario = {
        "retention": record_retention,
        "local-first": record_local_first,
        "fewer-tasks": record_fewer_tasks,
        "pressure": record_pressure,
        "retention-until-done": record_retention_until_done,
        "after-deprecation": record_after_deprecation,
        "as-activity": record_as_activity,
    }.get(name, record)
    # the unknown payment's back-off, short enough to record
    env = {"UNKNOWN_PAYMENT_RECHECK_AFTER": "PT3S"} if name in ("pressure", "as-activity") else None
    with tempfile.TemporaryDirectory() as var_dir:
        stack = Stack(free_stack_config(Path(var_dir), sqlite_url(var_dir), env))
        stack.start()
        try:
            asyncio.run(scenario(RunningStack(stack, "sqlite")))
        finally:
            stack.stop()
    print(f"recorded into {HISTORIES}")


if __name__ == "__main__":
    main()
