"""Delivers notifications the way MercadoPago does: signed webhooks (plus legacy IPNs when asked)
POSTed in the background, retried on failure, every attempt recorded for tests to inspect."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from .config import SandboxConfig
from .knobs import KnobBoard
from .resources import now_utc_z
from .signing import signature_header
from .state import Store

log = logging.getLogger("sandbox.delivery")

# MercadoPago waits this long for an answer before it counts the attempt as failed.
ATTEMPT_TIMEOUT_S = 22.0


@dataclass(frozen=True)
class Notice:
    """One notification to deliver; retries resend the same body with fresh headers."""

    kind: str  # "webhook" | "ipn"
    topic: str  # "payment" | "merchant_order"
    payment_id: int
    url: str
    body: bytes
    action: str | None = None
    data_id: str | None = None
    notification_id: int | None = None


def with_query(url: str, params: list[tuple[str, str]]) -> str:
    """Append query parameters, keeping whatever routing parameters the URL already has."""
    parts = urlsplit(url)
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True) + params)
    return urlunsplit(parts._replace(query=query))


class Notifier:
    def __init__(self, config: SandboxConfig, store: Store, knobs: KnobBoard) -> None:
        self._config, self._store, self._knobs = config, store, knobs
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()

    async def cancel_pending(self) -> None:
        """Forget deliveries and retries not yet made (a full reset)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Server shutdown: nothing pending survives, the connection pool is closed."""
        await self.cancel_pending()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def payment_event(
        self, payment_id: int, actions: list[str], base_url: str, *, plain: bool = False
    ) -> asyncio.Task | None:
        """Schedule what MercadoPago would send for these payment actions, honouring the knobs.
        `plain`: just one signed webhook per action, now (every knob but retry_delays_ms ignored).
        Must be called on the server's event loop; never waits for the receiver."""
        knobs = self._knobs.snapshot()
        url = self._target_url(payment_id)
        if not url or (knobs.drop and not plain):
            return None
        # `source_news` on the configured URL picks one channel, as at MercadoPago
        source_news = dict(parse_qsl(urlsplit(url).query)).get("source_news")
        webhooks_on = plain or source_news != "ipn"
        ipn_on = not plain and source_news != "webhooks"
        if knobs.reorder and not plain and "payment.created" in actions and "payment.updated" not in actions:
            actions = ["payment.updated", *actions]
        copies = 1 if plain else 1 + knobs.duplicates

        order_ipn = self._ipn(url, payment_id, "merchant_order", base_url) if knobs.merchant_order and ipn_on else None
        notices = [order_ipn] if order_ipn else []
        if knobs.ipn and ipn_on:
            notices.append(self._ipn(url, payment_id, "payment", base_url))
        if webhooks_on:
            notices += [self._webhook(url, payment_id, action) for action in actions for _ in range(copies)]
        if order_ipn:
            notices.append(order_ipn)  # MercadoPago repeats the merchant_order IPN after the webhook
        if not notices:
            return None
        delay_ms = 0 if plain else knobs.delay_ms
        return self._spawn(self._deliver_in_order(notices, delay_ms, knobs.retry_delays_ms))

    # -- what to send -------------------------------------------------------------------------
    def _target_url(self, payment_id: int) -> str:
        if self._config.honor_preference_notification_url:
            own = self._store.payment_preference(payment_id).get("notification_url")
            if own:
                return own
        return self._config.notification_url

    def _webhook(self, url: str, payment_id: int, action: str) -> Notice:
        notification_id = self._store.new_notification_id()
        body = {
            "action": action,
            "api_version": "v1",
            "data": {"id": str(payment_id)},
            "date_created": now_utc_z(),
            "id": notification_id,
            "live_mode": False,
            "type": "payment",
            "user_id": str(self._config.collector_id),
        }
        return Notice(
            "webhook",
            "payment",
            payment_id,
            with_query(url, [("data.id", str(payment_id)), ("type", "payment")]),
            json.dumps(body, separators=(",", ":")).encode(),
            action=action,
            data_id=str(payment_id),
            notification_id=notification_id,
        )

    def _ipn(self, url: str, payment_id: int, topic: str, base_url: str) -> Notice:
        if topic == "merchant_order":
            resource_id, path = self._store.payment(payment_id)["order"]["id"], "merchant_orders"
        else:
            resource_id, path = str(payment_id), "v1/payments"
        body = {"resource": f"{base_url}/{path}/{resource_id}", "topic": topic}
        return Notice(
            "ipn",
            topic,
            payment_id,
            with_query(url, [("topic", topic), ("id", resource_id)]),
            json.dumps(body, separators=(",", ":")).encode(),
        )

    # -- how it is sent -----------------------------------------------------------------------
    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop holds tasks only weakly
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver_in_order(self, notices: list[Notice], delay_ms: int, retry_delays_ms: list[int]) -> None:
        """First attempts go out one after another, so the order is the planned one; a failed
        notice then retries on its own schedule without holding up the others."""
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        for notice in notices:
            if not await self._attempt(notice, 1):
                self._spawn(self._retry(notice, retry_delays_ms))

    async def _retry(self, notice: Notice, delays_ms: list[int]) -> None:
        for attempt, delay_ms in enumerate(delays_ms, start=2):
            await asyncio.sleep(delay_ms / 1000)
            if await self._attempt(notice, attempt):
                return

    async def _attempt(self, notice: Notice, attempt: int) -> bool:
        request_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Retry": str(attempt - 1),
            "X-Socket-Timeout": str(int(ATTEMPT_TIMEOUT_S * 1000)),
        }
        if notice.kind == "webhook":
            headers["x-request-id"] = request_id
            headers["x-signature"] = signature_header(
                self._config.webhook_secret, notice.data_id, request_id, int(time.time() * 1000)
            )
        status_code, error = None, None
        try:
            if self._client is None:
                self._client = httpx.AsyncClient(timeout=ATTEMPT_TIMEOUT_S)
            response = await self._client.post(notice.url, content=notice.body, headers=headers)
            status_code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._store.record_delivery(
            {
                "payment_id": notice.payment_id,
                "kind": notice.kind,
                "topic": notice.topic,
                "action": notice.action,
                "url": notice.url,
                "status_code": status_code,
                "attempt": attempt,
                "at": now_utc_z("milliseconds"),
                "request_id": request_id if notice.kind == "webhook" else None,
                "notification_id": notice.notification_id,
                "error": error,
            }
        )
        ok = status_code is not None and 200 <= status_code < 300
        log.log(
            logging.INFO if ok else logging.WARNING,
            "%s %s -> %s (attempt %d): %s",
            notice.kind,
            notice.action or notice.topic,
            notice.url,
            attempt,
            status_code or error,
        )
        return ok
