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
            "paysaga_http_requests_total", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "paysaga_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0),
        )
        self.webhooks = Counter(
            "paysaga_webhooks_total", "MercadoPago notifications by topic and outcome",
            ["topic", "outcome"], registry=self.registry,
        )
        self.checkouts_started = Counter(
            "paysaga_checkouts_started_total", "Checkouts started (replays not counted)",
            registry=self.registry,
        )

    def webhook(self, topic: str | None, outcome: str) -> None:
        label = topic if topic in KNOWN_TOPICS else ("none" if topic is None else "other")
        self.webhooks.labels(topic=label, outcome=outcome).inc()


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
