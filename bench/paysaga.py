"""What the load does to paysaga: MercadoPago's signed webhooks, buyers' checkouts, subscriptions."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
from temporalio.client import Client, WorkflowHandle

from activities.subscriptions import SubscriptionActivities
from bench.http import ConnectionPool
from config.settings import DEV_JWT_SECRET
from domain.plans import Plan
from sandbox.signing import signature_header
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutOutcome
from workflows.ids import checkout_workflow_id, payment_workflow_id, subscription_workflow_id
from workflows.subscription_messages import ApplyPayment

WEBHOOK_PATH = "/api/webhooks/mercadopago"
SAGA_TIMEOUT_SECONDS = 60.0
# Under load the server can miss waking a result's long poll, which then returns only when the
# poll expires (20 s): ask again every second, so a figure is the saga's, never the poll's.
RESULT_POLL_SECONDS = 1.0
RETRY_JITTER_SECONDS = 0.5  # added at random to Retry-After, as the storefront does
Waiter = Callable[[str], Awaitable[None]]
# (accepted, seconds): each answer to a checkout call, a 503 checkout_busy being not accepted
Answered = Callable[[bool, float], None]
PLAN = Plan(id=1, code="BASIC", name="Plan BASIC", price=Decimal("9.99"), currency="ARS", billing_cycle="monthly")


def _error_code(body: bytes) -> str:
    """The API's error code (`temporal_unavailable`), else the body's start."""
    try:
        return str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        return body[:60].decode(errors="replace")


class Refused(Exception):
    @classmethod
    def answer(cls, what: str, status: int, body: bytes) -> Refused:
        """`what answered 503 temporal_unavailable`: the status and the API's error code, short
        enough to count alike in the report."""
        return cls(f"{what} answered {status} {_error_code(body)}".rstrip())


class Paysaga:
    def __init__(self, api_url: str, sandbox_url: str, client: Client, webhook_secret: str, task_queue: str) -> None:
        self.api = ConnectionPool(api_url)
        self.sandbox = ConnectionPool(sandbox_url)
        self._client = client
        self._secret = webhook_secret
        self._task_queue = task_queue
        # ids nobody else uses: payment ids the sandbox never issued, users no test has
        self._payment_ids = itertools.count(random.randint(10**14, 9 * 10**14))
        self._users = itertools.count(random.randint(10**8, 9 * 10**8))
        self._tokens: dict[int, str] = {}
        self._subscriptions = SubscriptionActivities(client, task_queue, continue_as_new_after=500)
        self.last_payment_id: str | None = None  # a real payment, for duplicate bursts
        self.last_saga_workflows: list[str] = []  # the workflows the last saga ran, for their histories

    # --- MercadoPago's side ----------------------------------------------------------------

    async def webhook(self, _index: int, payment_id: str | None = None) -> None:
        """One signed `payment.updated` webhook, as MercadoPago sends it; 200 "accepted" or an error.

        Without `payment_id` each names a payment id never seen before: its payment workflow
        reads it back (the sandbox answers 404), records that and ends, as the floor's
        workflow runs one activity and ends.
        """
        payment_id = payment_id or str(next(self._payment_ids))
        request_id = str(uuid.uuid4())
        body = json.dumps(
            {
                "action": "payment.updated",
                "api_version": "v1",
                "data": {"id": payment_id},
                "date_created": datetime.now(UTC).isoformat(),
                "id": random.randint(10**10, 10**11),
                "live_mode": False,
                "type": "payment",
                "user_id": "123456789",
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "x-request-id": request_id,
            "x-signature": signature_header(self._secret, payment_id, request_id, int(time.time() * 1000)),
        }
        status, answer = await self.api.request(
            "POST", f"{WEBHOOK_PATH}?data.id={payment_id}&type=payment", body, headers
        )
        if status != 200 or b'"accepted"' not in answer:
            raise Refused.answer("webhook", status, answer)

    # --- the buyer's side ------------------------------------------------------------------

    def _headers(self, user_id: int) -> dict[str, str]:
        token = self._tokens.get(user_id)
        if token is None:
            claims = {"sub": str(user_id), "exp": datetime.now(UTC) + timedelta(hours=6)}
            token = self._tokens[user_id] = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def open_checkout(
        self, _index: int = 0, user_id: int | None = None, answered: Answered | None = None
    ) -> dict:
        """POST /api/payments/checkout as a new user, as the storefront does: one Idempotency-Key
        per purchase, and a `503 checkout_busy` retried with the same key after its Retry-After
        (for up to SAGA_TIMEOUT_SECONDS). The answer carries the preference."""
        user_id = user_id or next(self._users)
        body = json.dumps({"userId": user_id, "planId": PLAN.id}).encode()
        headers = {**self._headers(user_id), "Idempotency-Key": uuid.uuid4().hex}
        deadline = time.monotonic() + SAGA_TIMEOUT_SECONDS
        while True:
            asked = time.perf_counter()
            status, answer_headers, answer = await self.api.exchange("POST", "/api/payments/checkout", body, headers)
            busy = status == 503 and _error_code(answer) == "checkout_busy"
            if answered is not None and (busy or status in (200, 201)):
                answered(not busy, time.perf_counter() - asked)
            if status in (200, 201):  # 200: a retried key's checkout, answered before
                return {**json.loads(answer), "userId": user_id}
            wait = max(1.0, float(answer_headers.get("retry-after", 1)))
            if not busy or time.monotonic() + wait > deadline:
                raise Refused.answer("checkout", status, answer)
            await asyncio.sleep(wait + random.uniform(0, RETRY_JITTER_SECONDS))  # as the storefront

    async def saga(
        self, _index: int, answered: Answered | None = None, *, until_completed: Waiter | None = None
    ) -> None:
        """A whole purchase: checkout, the buyer pays on the sandbox, the subscription is ACTIVE.

        `until_completed(checkout_id)` waits for the checkout to complete; by default a long poll
        on Temporal (right to time one saga; its cost grows with the number waiting)."""
        checkout = await self.open_checkout(answered=answered)
        paid = json.dumps({"preference_id": checkout["preferenceId"], "status": "approved"}).encode()
        status, answer = await self.sandbox.request(
            "POST", "/sandbox/payments", paid, {"Content-Type": "application/json"}
        )
        if status not in (200, 201):
            raise Refused.answer("sandbox payment", status, answer)
        payment_id = str(json.loads(answer)["id"])
        # the checkout ends once the payment is applied: wait for that on Temporal (a long poll),
        # then see the subscription ACTIVE through the API, as the frontend would
        # annotated: mypy cannot infer these through temporalio's union of protocols
        user_id = checkout["userId"]
        if until_completed is not None:
            await asyncio.wait_for(until_completed(checkout["checkoutId"]), SAGA_TIMEOUT_SECONDS)
        else:
            handle: WorkflowHandle[CheckoutWorkflow, CheckoutOutcome] = self._client.get_workflow_handle_for(
                CheckoutWorkflow.run, checkout_workflow_id(checkout["checkoutId"])
            )
            outcome = await _result(handle)
            if str(outcome.status) != "COMPLETED":
                raise Refused(f"checkout ended {outcome.status}")
        status, answer = await self.api.request(
            "GET", f"/api/subscriptions/user/{user_id}", b"", self._headers(user_id)
        )
        if status != 200 or json.loads(answer)["status"] != "ACTIVE":
            raise Refused.answer("subscription", status, answer)
        self.last_payment_id = payment_id
        self.last_saga_workflows = [
            checkout_workflow_id(checkout["checkoutId"]),
            payment_workflow_id(payment_id),
            subscription_workflow_id(user_id),
        ]

    # --- long-lived workflows (memory) -----------------------------------------------------

    async def activate_subscription(self, _index: int) -> None:
        """A subscription ACTIVE for a month (a timer), applied as a paid checkout applies it."""
        view = await self._subscriptions.apply_payment(
            ApplyPayment(
                user_id=next(self._users),
                mercadopago_payment_id=str(next(self._payment_ids)),
                plan=PLAN,
                approved_at=datetime.now(UTC),
            )
        )
        if str(view.status) != "ACTIVE":
            raise Refused(f"subscription is {view.status}")

    def close(self) -> None:
        self.api.close()
        self.sandbox.close()


async def _result(handle: WorkflowHandle):
    """The checkout's outcome, re-polled every RESULT_POLL_SECONDS up to SAGA_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + SAGA_TIMEOUT_SECONDS
    while True:
        try:
            return await asyncio.wait_for(handle.result(), RESULT_POLL_SECONDS)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
