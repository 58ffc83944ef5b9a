"""A flood of forged webhooks from many addresses, straight through the ASGI app: every one is
answered 401 or 429 at once, the inbox keeps only its sample of them, and the API's memory
(the inbox queue, the rate limiter's sources, what Python allocates) stays bounded."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import tracemalloc
from collections import Counter

from sqlalchemy import func, select

from api.main import create_app
from store.models import WebhookEventRow
from tests.support.waiting import eventually

# the suite runs 5,000; the README's figures come from PAYSAGA_WEBHOOK_FLOOD=20000
FLOOD = int(os.environ.get("PAYSAGA_WEBHOOK_FLOOD", "5000"))
IN_FLIGHT = 200
HAMMERING = 20  # addresses that keep sending; the rest send a handful each, from everywhere
SPREAD = min(5000, FLOOD // 4)  # each address seen again before the traced part below
TRACED = min(4000, FLOOD // 2)  # the last deliveries, under tracemalloc: what they leave must not grow


def _source(n: int) -> str:
    if n % 2:  # half the flood from a few addresses that never stop
        return f"198.18.0.{n % HAMMERING}"
    spread = (n // 2) % SPREAD
    return f"10.{spread // 65536}.{(spread // 256) % 256}.{spread % 256}"


async def _post(app, n: int) -> tuple[int, dict[bytes, bytes]]:
    """One forged delivery through the ASGI app: the freshest `ts`, an HMAC under no one's secret."""
    payment_id = str(5600000000 + n)
    ts = int(time.time() * 1000)
    headers = [
        (b"host", b"paysaga.test"),
        (b"content-type", b"application/json"),
        (b"x-signature", f"ts={ts},v1={secrets.token_hex(32)}".encode()),
        (b"x-request-id", f"flood-{n}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/webhooks/mercadopago",
        "raw_path": b"/api/webhooks/mercadopago",
        "query_string": f"data.id={payment_id}&type=payment".encode(),
        "root_path": "",
        "headers": headers,
        "client": (_source(n), 40000),
        "server": ("paysaga.test", 80),
    }
    body = b'{"action":"payment.updated","data":{"id":"%s"},"type":"payment"}' % payment_id.encode()
    sent = False
    answer: dict = {}

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the answer is on its way

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])

    await app(scope, receive, send)
    return answer["status"], answer["headers"]


async def test_a_flood_of_forged_webhooks_stays_bounded(make_settings, db, capsys):
    settings = make_settings()  # the defaults: 60 refused samples a minute, 30 failures a minute per address
    app = create_app(settings)
    statuses: Counter[int] = Counter()
    most_queued = 0
    async with app.router.lifespan_context(app):
        inbox = app.state.inbox

        async def wave(start: int) -> None:
            nonlocal most_queued
            for status, headers in await asyncio.gather(*(_post(app, n) for n in range(start, start + IN_FLIGHT))):
                statuses[status] += 1
                if status == 429:
                    assert int(headers[b"retry-after"]) >= 1
            most_queued = max(most_queued, inbox.queued)

        started = time.perf_counter()
        traced_from = max(0, FLOOD - TRACED) // IN_FLIGHT * IN_FLIGHT
        for start in range(0, traced_from, IN_FLIGHT):
            await wave(start)
        untraced = time.perf_counter() - started  # the rate, measured before tracing slows everything
        tracemalloc.start()
        try:
            settle = traced_from + 2 * IN_FLIGHT
            for start in range(traced_from, settle, IN_FLIGHT):
                await wave(start)
            settled = tracemalloc.get_traced_memory()[0]
            for start in range(settle, FLOOD, IN_FLIGHT):
                await wave(start)
            grown = tracemalloc.get_traced_memory()[0] - settled
        finally:
            tracemalloc.stop()
        flood_minutes = (time.perf_counter() - started) / 60
        await inbox.drain(timeout=10)
        metrics = app.state.metrics
        refusals = {
            sample.labels["reason"]: sample.value
            for sample in metrics.webhook_refusals.collect()[0].samples
            if sample.name.endswith("_total")
        }
        limiter_sources = len(app.state.signature_failure_limiter._sources)

    async with db() as session:
        rows = await session.scalar(select(func.count()).select_from(WebhookEventRow))
    rate = traced_from / untraced
    with capsys.disabled():
        print(
            f"\nwebhook flood: {FLOOD} forged deliveries from {HAMMERING + SPREAD} addresses, {IN_FLIGHT} in flight: "
            f"{rate:.0f} handled/s; answers {dict(statuses)}; inbox rows {rows}; most queued {most_queued}; "
            f"traced memory growth over the last {FLOOD - settle} {grown / 1024:.0f} KiB; refusals {refusals}"
        )

    assert set(statuses) <= {401, 429} and sum(statuses.values()) == FLOOD
    assert statuses[429] > FLOOD / 3  # the addresses that never stop are mostly refused before any HMAC
    assert sum(refusals.values()) == FLOOD
    assert rows <= settings.webhook_refused_samples_per_minute * (1 + flood_minutes) + 1
    assert most_queued <= settings.webhook_refused_samples_per_minute * (1 + flood_minutes) + 1
    assert limiter_sources <= HAMMERING + SPREAD
    # nothing kept per forged delivery: an inbox row (with its SQLAlchemy state) or a task kept for
    # each would be 500+ bytes, over 1 MiB across the traced part; the margin absorbs the noise of
    # a loaded machine (pools, a write that timed out and is retried)
    assert grown < 1024 * 1024, grown
    assert await eventually(lambda: _none_queued(inbox), timeout=5, what="inbox drained")


async def _none_queued(inbox) -> bool:
    return inbox.queued == 0
