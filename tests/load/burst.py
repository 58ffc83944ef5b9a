"""A burst of purchases and signed webhooks against a running stack, and what it proves.

Checkouts are started through the API (each with its Idempotency-Key, as a frontend does), paid
on the sandbox without its own notifications, and their webhooks are sent from here: signed
exactly as MercadoPago signs them, with a share of exact duplicates, in random order (a pool
from which senders pick at random), through a bounded number of connections, while later
checkouts are still being started. With `retry_unavailable` a refused or unanswered delivery
is sent again later with fresh headers, as MercadoPago does; otherwise it counts as a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sandbox.signing import signature_header
from tests.support.checkouts import CheckoutCall, start_checkout_retrying
from tests.support.stack import RunningStack, token
from tests.support.waiting import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "load"
# one checkout, its retries included, is answered within this (or counts as a failure)
CHECKOUT_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class Notice:
    """One notification as MercadoPago would deliver it; a duplicate is the same object again."""

    payment_id: str
    action: str
    notification_id: int
    request_id: str
    ts_ms: int


@dataclass
class Purchase:
    user_id: int
    checkout_id: str
    payment_id: str
    status: str  # as paid on the sandbox: approved / rejected
    preference_id: str = ""
    external_reference: str = ""
    key: str = ""  # the Idempotency-Key its checkout was started (and retried) with


@dataclass
class BurstResult:
    purchases: list[Purchase] = field(default_factory=list)
    checkout_failures: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # every answer, retries included (0: none)
    no_answer: Counter = field(default_factory=Counter)  # why a delivery got no answer, by error type
    final: dict[int, int] = field(default_factory=dict)  # index of a delivery -> its last status
    latencies: list[float] = field(default_factory=list)  # seconds, answered deliveries only
    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    started: float = 0.0
    last_sent: float = 0.0
    applied_after: float | None = None  # seconds from the last webhook sent to all applied
    checkout_latencies: list[float] = field(default_factory=list)
    checkout_retries: int = 0  # checkout requests beyond each checkout's first (same key): refused or unanswered
    checkout_calls: list[CheckoutCall] = field(default_factory=list)  # every checkout's attempts

    @property
    def approved(self) -> list[Purchase]:
        return [p for p in self.purchases if p.status == "approved"]

    def figures(self) -> dict:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float:
            return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0

        window = max(1e-9, self.last_sent - self.started)
        return {
            "checkouts": len(self.purchases),
            "checkout_p50_ms": round(1000 * statistics.median(self.checkout_latencies), 1)
            if self.checkout_latencies
            else 0,
            "checkout_retries": self.checkout_retries,
            "approved": len(self.approved),
            "webhooks": self.sent,
            "duplicates": self.duplicates,
            "retried": self.retries,
            "webhooks_per_s": round(self.sent / window, 1),
            "ack_p50_ms": pct(0.50),
            "ack_p99_ms": pct(0.99),
            "ack_max_ms": round(1000 * ordered[-1], 1) if ordered else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))},
            "no_answer": dict(self.no_answer),
            "burst_s": round(window, 1),
            "all_applied_after_s": None if self.applied_after is None else round(self.applied_after, 1),
        }


class Burst:
    def __init__(
        self,
        stack: RunningStack,
        *,
        checkouts: int,
        users: list[int],
        webhooks_per_payment: int = 5,
        duplicate_share: float = 0.3,
        rejected_share: float = 0.1,
        concurrency: int = 50,
        checkout_concurrency: int = 8,
        plan_id: int = 1,
        retry_unavailable: bool = False,
        seed: int = 7,
    ) -> None:
        self.stack = stack
        self.checkouts = checkouts
        self.users = users
        self.per_payment = webhooks_per_payment
        self.duplicate_share = duplicate_share
        self.rejected_share = rejected_share
        self.concurrency = concurrency
        self.checkout_concurrency = checkout_concurrency
        self.plan_id = plan_id
        self.retry_unavailable = retry_unavailable
        self.rng = random.Random(seed)
        self.result = BurstResult()
        self._pool: list[tuple[int, Notice]] = []
        self._deliveries = 0
        self._producing = True
        self._pending_retries = 0

    # --- the run ------------------------------------------------------------------------

    async def run(self, during=None) -> BurstResult:
        """Start checkouts and send their webhooks; `during(burst)` runs alongside (faults)."""
        limits = httpx.Limits(max_connections=self.concurrency + self.checkout_concurrency + 4)
        async with (
            httpx.AsyncClient(base_url=self.stack.config.api_url, timeout=30, limits=limits) as api,
            httpx.AsyncClient(base_url=self.stack.config.sandbox_url, timeout=30) as sandbox,
        ):
            self.result.started = time.perf_counter()
            senders = [asyncio.create_task(self._sender(api)) for _ in range(self.concurrency)]
            side = asyncio.create_task(during(self)) if during else None
            try:
                await self._produce(api, sandbox)
            finally:
                self._producing = False
            await asyncio.gather(*senders)
            if side is not None:
                await side
        return self.result

    @property
    def progress(self) -> int:
        """Deliveries answered so far (faults are timed against it)."""
        return sum(self.result.statuses.values())

    async def _produce(self, api: httpx.AsyncClient, sandbox: httpx.AsyncClient) -> None:
        slots = asyncio.Semaphore(self.checkout_concurrency)

        async def one(index: int) -> None:
            async with slots:
                user_id = self.users[index % len(self.users)]
                status = "rejected" if self.rng.random() < self.rejected_share else "approved"
                created = await self._checkout(api, user_id)
                if created is None:
                    return
                paid = await sandbox.post(
                    "/sandbox/payments",
                    json={"preference_id": created["preferenceId"], "status": status, "notify": False},
                )
                paid.raise_for_status()
                purchase = Purchase(
                    user_id,
                    created["checkoutId"],
                    str(paid.json()["id"]),
                    status,
                    created["preferenceId"],
                    created["externalReference"],
                    created["key"],
                )
                self.result.purchases.append(purchase)
                self._queue(purchase)

        await asyncio.gather(*(one(i) for i in range(self.checkouts)))

    async def _checkout(self, api: httpx.AsyncClient, user_id: int) -> dict | None:
        """The checkout's answer (with its key), retried as a frontend does: `503 checkout_busy`
        with the same key after its Retry-After (and, with `retry_unavailable`, any 503 or a
        request that got no answer); None, counted as a failure, when it was never answered."""
        call = CheckoutCall(uuid.uuid4().hex)
        self.result.checkout_calls.append(call)
        try:
            answer = await start_checkout_retrying(
                api,
                user_id,
                self.plan_id,
                headers={"Authorization": f"Bearer {token(user_id)}"},
                deadline=CHECKOUT_DEADLINE_SECONDS,
                retry_unavailable=self.retry_unavailable,
                call=call,
            )
        except httpx.TransportError as exc:
            self.result.checkout_failures.append(type(exc).__name__)
            return None
        finally:
            self.result.checkout_retries += max(0, len(call.attempts) - 1)
        if answer.status_code not in (200, 201):
            self.result.checkout_failures.append(f"{answer.status_code} {answer.text[:200]}")
            return None
        self.result.checkout_latencies.append(call.attempts[-1].seconds)
        return {**answer.json(), "key": call.key}

    def _queue(self, purchase: Purchase) -> None:
        """The purchase's distinct notifications, plus exact duplicates up to the share."""
        exact = self.per_payment * (1 - self.duplicate_share)
        distinct = max(1, int(exact) + (1 if self.rng.random() < exact - int(exact) else 0))
        actions = ["payment.created"] + ["payment.updated"] * (distinct - 1)
        now_ms = int(time.time() * 1000)
        notices = [
            Notice(purchase.payment_id, action, self.rng.randrange(10**11, 10**12), str(uuid.uuid4()), now_ms)
            for action in actions
        ]
        copies = notices + [self.rng.choice(notices) for _ in range(max(0, self.per_payment - distinct))]
        self.result.duplicates += len(copies) - len(notices)
        for notice in copies:
            self._pool.append((self._deliveries, notice))
            self._deliveries += 1

    async def _sender(self, api: httpx.AsyncClient) -> None:
        while True:
            if not self._pool:
                if not self._producing and self._pending_retries == 0:
                    return
                await asyncio.sleep(0.01)  # waiting for the producer: a poll, not a timed wait
                continue
            # a random pick from what is queued: deliveries arrive out of order
            index = self.rng.randrange(len(self._pool))
            self._pool[index], self._pool[-1] = self._pool[-1], self._pool[index]
            number, notice = self._pool.pop()
            await self._deliver(api, number, notice)

    async def _deliver(self, api: httpx.AsyncClient, number: int, notice: Notice) -> None:
        url, headers, body = self.signed(notice)
        started = time.perf_counter()
        try:
            answer = await api.post(url, content=body, headers=headers)
            status = answer.status_code
            self.result.latencies.append(time.perf_counter() - started)
        except httpx.TransportError as exc:
            status = 0  # no answer: refused, reset or timed out
            self.result.no_answer[type(exc).__name__] += 1
        self.result.statuses[status] += 1
        self.result.final[number] = status
        self.result.sent += 1
        self.result.last_sent = time.perf_counter()
        if self.retry_unavailable and (status == 0 or status >= 500):
            self.result.retries += 1
            self._pending_retries += 1
            asyncio.get_running_loop().call_later(0.5 + self.rng.random(), self._requeue, number, notice)

    def _requeue(self, number: int, notice: Notice) -> None:
        # MercadoPago retries with fresh headers: a new request id and timestamp
        fresh = Notice(
            notice.payment_id, notice.action, notice.notification_id, str(uuid.uuid4()), int(time.time() * 1000)
        )
        self._pool.append((number, fresh))
        self._pending_retries -= 1

    def signed(self, notice: Notice) -> tuple[str, dict[str, str], bytes]:
        return signed_request(self.stack.config.webhook_secret, notice)

    # --- what must hold afterwards --------------------------------------------------------

    async def wait_applied(self, timeout: float) -> None:
        """Every approved payment in the ledger (and every paid one in the read model)."""
        approved = {p.payment_id for p in self.result.approved}
        everyone = {p.payment_id for p in self.result.purchases}

        async def probe():
            ledger = await self.stack.rows(
                f"SELECT count(*) AS n FROM subscription_ledger WHERE user_id IN ({_ints(self.users)})"
            )
            payments = await self.stack.rows(
                f"SELECT count(*) AS n FROM payments WHERE user_id IN ({_ints(self.users)})"
            )
            return ledger[0]["n"] >= len(approved) and payments[0]["n"] >= len(everyone)

        await eventually(probe, timeout=timeout, interval=0.5, what="every approved payment applied")
        self.result.applied_after = time.perf_counter() - self.result.last_sent

    async def check_exactly_once(self, contiguous: bool = True) -> int:
        """Asserts the exactly-once invariants; returns how many periods do not follow the one
        before (asserted to be none when `contiguous`)."""
        purchases = self.result.purchases
        approved = {p.payment_id for p in self.result.approved}
        users = _ints(self.users)
        payments = {
            row["mercadopago_payment_id"]: row["status"]
            for row in await self.stack.rows(
                f"SELECT mercadopago_payment_id, status FROM payments WHERE user_id IN ({users})"
            )
        }
        # no notification answered 200 was lost: every paid purchase is in the read model
        assert set(payments) == {p.payment_id for p in purchases}
        for purchase in purchases:
            assert payments[purchase.payment_id] == purchase.status.upper(), purchase
        ledger = await self.stack.rows(
            "SELECT mercadopago_payment_id, user_id, period_start, period_end, reversed_at FROM subscription_ledger"
            f" WHERE user_id IN ({users}) ORDER BY user_id, period_start"
        )
        applied = [row["mercadopago_payment_id"] for row in ledger]
        assert len(applied) == len(approved), "ledger rows != approved payments"
        assert set(applied) == approved
        assert all(row["reversed_at"] is None for row in ledger)
        by_user: dict[int, list[dict]] = defaultdict(list)
        for row in ledger:
            by_user[row["user_id"]].append(row)
        expected = Counter(p.user_id for p in self.result.approved)
        gaps = 0
        subscriptions = {
            row["user_id"]: row
            for row in await self.stack.rows(
                f"SELECT user_id, status, start_date, end_date FROM subscriptions WHERE user_id IN ({users})"
            )
        }
        for user_id, count in expected.items():
            periods = by_user[user_id]
            assert len(periods) == count, f"user {user_id}: {len(periods)} periods for {count} approved payments"
            assert subscriptions[user_id]["status"] == "ACTIVE"
            # periods bought while active follow one another, with no gap and no overlap
            broken = [
                (before, after)
                for before, after in itertools.pairwise(periods)
                if not _same_moment(before["period_end"], after["period_start"])
            ]
            if contiguous:
                assert not broken, (user_id, broken)
                assert _same_moment(subscriptions[user_id]["end_date"], periods[-1]["period_end"])
            gaps += len(broken)
        return gaps

    async def check_one_preference_per_checkout(self) -> None:
        """A checkout retried with its key is one checkout: every answer for a key named the same
        checkout and preference, the read model holds exactly the checkouts that were answered
        (a refused try left no checkout of its own), each with the preference it was answered
        with, and MercadoPago (the sandbox) holds that preference for the checkout's external
        reference."""
        await check_one_preference_per_checkout(self.stack, self.result.checkout_calls, self.users)

    async def inbox_outcomes(self) -> Counter:
        rows = await self.stack.rows(
            "SELECT outcome, count(*) AS n FROM webhook_events WHERE topic = 'payment' AND resource_id IN "
            f"({', '.join(repr(p.payment_id) for p in self.result.purchases) or 'NULL'}) GROUP BY outcome"
        )
        return Counter({row["outcome"]: row["n"] for row in rows})

    def report(self, name: str, backend: str, extra: dict | None = None) -> dict:
        figures = {"name": name, "backend": backend, **self.result.figures(), **(extra or {})}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=1))
        return figures


async def check_one_preference_per_checkout(stack: RunningStack, calls: list[CheckoutCall], users) -> None:
    """See Burst.check_one_preference_per_checkout; `calls` are every checkout started for `users`."""
    answered: dict[str, dict] = {}  # checkout id -> its answer
    for call in calls:
        bodies = [a.body for a in call.attempts if a.status in (200, 201) and a.body]
        if not bodies:
            continue
        # every answer for one key is the same checkout and the same preference
        assert len({(b["checkoutId"], b["preferenceId"]) for b in bodies}) == 1, (call.key, bodies)
        first = bodies[0]
        assert first["checkoutId"] not in answered, f"two keys answered with checkout {first['checkoutId']}"
        answered[first["checkoutId"]] = first
    rows = await stack.rows(
        "SELECT checkout_id, preference_id, external_reference FROM payment_preferences"
        f" WHERE user_id IN ({_ints(users)})"
    )
    stored = {row["checkout_id"]: row for row in rows}
    # one checkout per key that was answered: no try left a second checkout (with its preference) behind
    unanswered = set(stored) - set(answered)
    assert not unanswered, f"{len(unanswered)} checkouts no key was answered with, e.g. {sorted(unanswered)[:3]}"
    assert set(answered) <= set(stored), sorted(set(answered) - set(stored))[:3]
    for checkout_id, body in answered.items():
        row = stored[checkout_id]
        assert (row["preference_id"], row["external_reference"]) == (
            body["preferenceId"],
            body["externalReference"],
        ), (checkout_id, row, body)
    assert len({row["preference_id"] for row in rows}) == len(rows), "two checkouts share a preference"
    # MercadoPago's side: each answered preference belongs to its checkout's external reference
    async with httpx.AsyncClient(base_url=stack.config.sandbox_url, timeout=30) as sandbox:
        limit = asyncio.Semaphore(16)

        async def external_reference_of(preference_id: str) -> str | None:
            async with limit:
                answer = await sandbox.get(
                    f"/checkout/preferences/{preference_id}", headers={"Authorization": "Bearer test"}
                )
            answer.raise_for_status()
            return answer.json().get("external_reference")

        held = await asyncio.gather(*(external_reference_of(b["preferenceId"]) for b in answered.values()))
    mismatched = [
        (b["preferenceId"], b["externalReference"], ref)
        for b, ref in zip(answered.values(), held, strict=True)
        if ref != b["externalReference"]
    ]
    assert not mismatched, mismatched[:3]


def signed_request(secret: str, notice: Notice) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of a webhook as MercadoPago sends it, signed with `secret`."""
    url = f"/api/webhooks/mercadopago?data.id={notice.payment_id}&type=payment"
    body = json.dumps(
        {
            "action": notice.action,
            "api_version": "v1",
            "data": {"id": notice.payment_id},
            "date_created": datetime.now(UTC).isoformat(),
            "id": notice.notification_id,
            "live_mode": False,
            "type": "payment",
            "user_id": "724484980",
        },
        separators=(",", ":"),
    ).encode()
    headers = {
        "content-type": "application/json",
        "x-request-id": notice.request_id,
        "x-signature": signature_header(secret, notice.payment_id, notice.request_id, notice.ts_ms),
    }
    return url, headers, body


async def send_webhook(stack: RunningStack, payment_id: str, action: str = "payment.updated") -> httpx.Response:
    """One fresh signed webhook for this payment, straight to the API."""
    notice = Notice(
        str(payment_id), action, random.randrange(10**11, 10**12), str(uuid.uuid4()), int(time.time() * 1000)
    )
    url, headers, body = signed_request(stack.config.webhook_secret, notice)
    async with httpx.AsyncClient(base_url=stack.config.api_url, timeout=15) as api:
        return await api.post(url, headers=headers, content=body)


def _ints(values) -> str:
    return ", ".join(str(int(v)) for v in values)


def _same_moment(a, b) -> bool:
    """Timestamps as either driver returns them (aware datetimes or SQLite text)."""

    def norm(value):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    return norm(a) == norm(b)
