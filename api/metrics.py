"""Prometheus metrics of the API, on a registry per app (tests build several apps)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Topics we label as themselves; anything else is "other" so a caller cannot blow up cardinality.
KNOWN_TOPICS = frozenset({"payment", "merchant_order", "topic_merchant_order_wh", "chargebacks", "none"})


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "paysaga_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paysaga_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0),
        )
        self.webhooks = Counter(
            "paysaga_webhooks_total",
            "MercadoPago notifications by topic and outcome",
            ["topic", "outcome"],
            registry=self.registry,
        )
        # refused deliveries by why (a fixed set of reasons), and inbox records dropped by why:
        # a flood is counted here rather than written to the inbox row by row
        self.webhook_refusals = Counter(
            "paysaga_webhook_refusals_total",
            "MercadoPago notifications refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.webhook_inbox_shed_records = Counter(
            "paysaga_webhook_inbox_shed_total",
            "Webhook inbox records not written: sampled_out (refused beyond the sample) or queue_full",
            ["reason"],
            registry=self.registry,
        )
        self.checkouts_started = Counter(
            "paysaga_checkouts_started_total",
            "Checkouts started (replays not counted)",
            registry=self.registry,
        )
        self.checkouts_busy = Counter(
            "paysaga_checkouts_busy_total",
            "Checkouts answered 503 checkout_busy: full (too many in flight, nothing started) or"
            " slow (the preference was not ready in CHECKOUT_ANSWER_TIMEOUT; a retry gets it)",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("full", "slow"):  # served at 0 before the first refusal: rate() and alerts see them
            self.checkouts_busy.labels(reason=reason)

    def webhook(self, topic: str | None, outcome: str, refusal: str | None = None) -> None:
        label = topic if topic in KNOWN_TOPICS else ("none" if topic is None else "other")
        self.webhooks.labels(topic=label, outcome=outcome).inc()
        if refusal is not None:
            self.webhook_refusals.labels(reason=refusal).inc()

    def webhook_inbox_shed(self, reason: str) -> None:
        self.webhook_inbox_shed_records.labels(reason=reason).inc()


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (`/api/payments/{paymentId}`)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            # the router writes the matched route into this same scope; unmatched paths share one label
            template = getattr(route, "path", None) or "unmatched"
            labels = {"method": scope.get("method", ""), "route": template, "status": str(status)}
            self.metrics.requests.labels(**labels).inc()
            self.metrics.latency.labels(**labels).observe(time.perf_counter() - started)
