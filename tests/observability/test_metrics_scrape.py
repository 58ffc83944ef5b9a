"""The real API and worker, scraped after a checkout, serve every metric that a dashboard panel
or an alert rule of deploy/ queries: a panel can never silently show "No data" for a typo.

Failure metrics exist only once something failed, so this makes one of each happen for real:
a MercadoPago call that fails twice (the activity retries it), and a workflow task that fails.
"""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from tests.observability.deploy_queries import all_expressions
from tests.observability.observed import next_user_id, sandbox, start_checkout
from tests.observability.promql import metric_names
from tests.support.waiting import eventually

# Series Prometheus writes itself for every target, never found in a scrape.
SYNTHETIC = {"up"}


def sample_names(exposition: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(exposition) for sample in family.samples}


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url)
    answer.raise_for_status()
    return answer.text


async def test_every_queried_metric_is_served(observed, purchase):
    # a short MercadoPago outage: create_preference fails twice (its quick local attempt, then
    # the first attempt of the ordinary activity), and Temporal's retry gets through
    await sandbox(observed, "POST", "/sandbox/knobs", json={"fail": {"create_preference": {"status": 503, "count": 2}}})
    try:
        await start_checkout(observed, next_user_id())
    finally:
        await sandbox(observed, "POST", "/sandbox/knobs", json={"fail": {}})
    # a forged webhook (401)
    async with httpx.AsyncClient(base_url=observed.config.api_url) as client:
        forged = await client.post(
            "/api/webhooks/mercadopago?data.id=123&type=payment",
            json={},
            headers={"x-signature": "ts=1,v1=" + "0" * 64, "x-request-id": "forged"},
        )
    assert forged.status_code == 401
    # a workflow task that fails: a workflow type no worker knows
    client = await Client.connect(observed.config.temporal_address)
    handle = await client.start_workflow("NoSuchWorkflow", id=f"probe-{uuid.uuid4().hex}", task_queue="payments")
    try:
        wanted = {name for expr in all_expressions().values() for name in metric_names(expr)} - SYNTHETIC

        async def missing() -> set[str] | None:
            served = sample_names(await scrape(f"{observed.config.api_url}/metrics"))
            served |= sample_names(await scrape(observed.worker_metrics_url))
            return wanted - served

        async def all_served() -> bool:
            return not await missing()

        try:
            await eventually(all_served, timeout=20, interval=0.5, what="every queried metric served")
        except AssertionError:
            raise AssertionError(
                f"queried by deploy/ but served by neither the API nor the worker: {sorted(await missing())}"
            ) from None
    finally:
        await handle.terminate("probe done")


async def test_worker_serves_sdk_and_business_metrics_at_one_address(observed, purchase):
    text = await scrape(observed.worker_metrics_url)
    names = sample_names(text)
    assert "paysaga_worker_sdk_metrics_up" in names and "paysaga_worker_sdk_metrics_up 1" in text
    assert any(name.startswith("temporal_") for name in names)
    # the purchase: one approved payment, one activation, timed from checkout and from approval
    families = {family.name: family for family in text_string_to_metric_families(text)}
    approved = [
        s.value
        for s in families["paysaga_payments"].samples
        if s.name == "paysaga_payments_total" and s.labels["status"] == "APPROVED"
    ]
    assert approved and approved[0] >= 1
    assert [s.value for s in families["paysaga_subscription_activations"].samples][0] >= 1
    for histogram in ("paysaga_checkout_to_activation_seconds", "paysaga_payment_to_activation_seconds"):
        count = [s.value for s in families[histogram].samples if s.name == f"{histogram}_count"]
        assert count and count[0] >= 1, histogram
    calls = [
        s
        for s in families["paysaga_mercadopago_request_duration_seconds"].samples
        if s.name.endswith("_count") and s.labels["operation"] == "get_payment" and s.labels["outcome"] == "ok"
    ]
    assert calls and calls[0].value >= 1
    # schedule-to-start is measured at the alerts' 2 s threshold, not interpolated between 1 and 5 s
    waits = [
        s.labels["le"]
        for s in families["temporal_workflow_task_schedule_to_start_latency_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert {float(le) for le in waits} >= {0.05, 2.0}, waits
