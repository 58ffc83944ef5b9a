"""One trace id from the API's request to the workflow, its activities, the MercadoPago call
and the SQL they run, across the real API and worker processes, as exported over OTLP/HTTP."""

from __future__ import annotations

import httpx

from tests.observability.otlp_receiver import ReceivedSpan
from tests.support.waiting import eventually

CHECKOUT_ROUTE_SPAN = "POST /api/payments/checkout"


def _trace_of_checkout(spans: list[ReceivedSpan], checkout_id: str) -> list[ReceivedSpan]:
    workflow_id = f"checkout-{checkout_id}"
    started = [
        s
        for s in spans
        if s.attributes.get("temporalWorkflowID") == workflow_id
        and s.name == "StartUpdateWithStartWorkflow:CheckoutWorkflow"
    ]
    if not started:
        return []
    return [s for s in spans if s.trace_id == started[0].trace_id]


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def _is_sql(span: ReceivedSpan) -> bool:
    return "db.system" in span.attributes or "db.system.name" in span.attributes


async def test_one_trace_from_the_api_request_to_the_activity_sql(observed, purchase):
    checkout_id = purchase.checkout["checkoutId"]

    async def complete_trace():
        trace = _trace_of_checkout(observed.receiver.snapshot(), checkout_id)
        names = {(s.service, s.name) for s in trace}
        wanted = {
            ("paysaga-api", CHECKOUT_ROUTE_SPAN),
            ("paysaga-worker", "RunWorkflow:CheckoutWorkflow"),
            ("paysaga-worker", "RunActivity:mercadopago.create_preference"),
            ("paysaga-worker", "RunActivity:store.save_checkout"),
        }
        has_sql = any(s.service == "paysaga-worker" and _is_sql(s) for s in trace)
        has_http = any(s.service == "paysaga-worker" and s.name == "POST" for s in trace)
        return trace if wanted <= names and has_sql and has_http else None

    trace = await eventually(
        complete_trace, timeout=15, what="the checkout's trace with API, workflow, HTTP and SQL spans"
    )
    by_id = {span.span_id: span for span in trace}
    api_span = next(s for s in trace if s.name == CHECKOUT_ROUTE_SPAN)
    assert not api_span.parent_span_id  # the request started the trace

    # parent links, not only a shared id: the SQL of the activity descends from the API request
    sql = next(s for s in trace if s.service == "paysaga-worker" and _is_sql(s) and s.name.startswith("INSERT"))
    lineage = [span.name for span in _ancestors(sql, by_id)]
    assert "RunActivity:store.save_checkout" in lineage and lineage[-1] == CHECKOUT_ROUTE_SPAN, lineage
    call = next(s for s in trace if s.service == "paysaga-worker" and s.name == "POST")
    assert str(call.attributes.get("url.full") or call.attributes.get("http.url")).startswith(
        observed.config.sandbox_url
    )
    assert "RunActivity:mercadopago.create_preference" in [span.name for span in _ancestors(call, by_id)]


async def test_probes_are_not_traced(observed, purchase):
    async with httpx.AsyncClient(base_url=observed.config.api_url) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/api/plans")).status_code == 200

    # spans leave in the order they end: once the later request's span is here, the probe's would be
    async def plans_span():
        return [s for s in observed.receiver.snapshot() if s.name == "GET /api/plans"]

    await eventually(plans_span, timeout=10, what="the /api/plans span")
    assert not [s for s in observed.receiver.snapshot() if s.service == "paysaga-api" and "healthz" in s.name]
