"""Starting a checkout and cancelling a subscription through Temporal.

The real workflows are tested elsewhere; here stand-ins with the same names and message types
check how the API talks to them and maps their answers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from domain.statuses import SubscriptionStatus
from store.models import CheckoutRow
from tests.api.helpers import ADMIN, ALICE, BOB, bearer, serve
from tests.support.waiting import eventually
from workflows import search_attributes as sa
from workflows.checkout import KEY_REUSED
from workflows.checkout_messages import CheckoutCreated, CheckoutInput, CheckoutRequest
from workflows.ids import checkout_id_for, checkout_workflow_id, subscription_workflow_id
from workflows.subscription_messages import CancelSubscription, SubscriptionView

CREATED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SLOW_BUYER = 77


@workflow.defn(name="CheckoutWorkflow")
class StandInCheckout:
    @workflow.init
    def __init__(self, input: CheckoutInput) -> None:
        self.input = input
        self.created: CheckoutCreated | None = None
        self.finished = False
        # a slow buyer's preference is ready only once released
        self.released = input.user_id != SLOW_BUYER

    @workflow.run
    async def run(self, input: CheckoutInput) -> None:
        await workflow.wait_condition(lambda: self.finished and workflow.all_handlers_finished())

    @workflow.update
    async def request_preference(self, request: CheckoutRequest) -> CheckoutCreated:
        await workflow.wait_condition(lambda: self.released)
        if self.created is not None:
            return self.created.model_copy(update={"replayed": True})
        self.created = CheckoutCreated(
            checkout_id=self.input.checkout_id,
            preference_id=f"724484980-{self.input.checkout_id[:8]}",
            init_point=f"https://mp.example/checkout?pref={self.input.checkout_id}",
            sandbox_init_point=f"https://sandbox.mp.example/checkout?pref={self.input.checkout_id}",
            external_reference=self.input.external_reference,
            created_at=CREATED_AT,
        )
        return self.created

    @request_preference.validator
    def _same_purchase(self, request: CheckoutRequest) -> None:
        if request.plan_id != self.input.plan.id or request.user_id != self.input.user_id:
            raise ApplicationError("this checkout is for another plan", type=KEY_REUSED, non_retryable=True)

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn(name="SubscriptionWorkflow")
class StandInSubscription:
    def __init__(self) -> None:
        self.status = SubscriptionStatus.ACTIVE
        self.cancelled_by: str | None = None

    @workflow.run
    async def run(self, user_id: int) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def cancel(self, request: CancelSubscription) -> SubscriptionView:
        self.status, self.cancelled_by = SubscriptionStatus.CANCELLED, request.requested_by
        return SubscriptionView(
            user_id=request.user_id,
            subscription_id=None,
            plan_id=2,
            status=self.status,
            start_date=None,
            end_date=None,
            outcome="CANCELLED",
        )

    @workflow.query
    def cancelled_by_whom(self) -> str | None:
        return self.cancelled_by


@pytest.fixture
def live_settings(make_settings, temporal_env):
    def make(**overrides):
        return make_settings(temporal_address=temporal_env.client.service_client.config.target_host, **overrides)

    return make


@asynccontextmanager
async def stand_ins(temporal_env, settings):
    checkouts = Worker(
        temporal_env.client,
        task_queue=settings.checkout_task_queue,
        workflows=[StandInCheckout],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    subscriptions = Worker(
        temporal_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=[StandInSubscription],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with checkouts, subscriptions:
        yield


def _checkout(settings, user_id=ALICE, plan_id=1, key=None, token_user=None):
    headers = bearer(settings, token_user or user_id)
    if key is not None:
        headers["Idempotency-Key"] = key
    return {"json": {"userId": user_id, "planId": plan_id}, "headers": headers}


async def test_checkout_starts_the_workflow_and_returns_the_preference(live_settings, temporal_env, db):
    settings = live_settings()
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        response = await client.post("/api/payments/checkout", **_checkout(settings, plan_id=2))
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "checkoutId",
        "preferenceId",
        "initPoint",
        "sandboxInitPoint",
        "externalReference",
        "createdAt",
    }
    assert body["externalReference"].startswith(f"PLAN-2-USER-{ALICE}-")
    assert body["externalReference"][-8:] == body["checkoutId"][:8]
    assert body["createdAt"] == "2025-03-01T12:00:00Z"
    assert "paysaga_checkouts_started_total 1.0" in metrics

    description = await temporal_env.client.get_workflow_handle(checkout_workflow_id(body["checkoutId"])).describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.USER_ID) == ALICE and attributes.get(sa.PLAN_ID) == 2
    assert attributes.get(sa.EXTERNAL_REFERENCE) == body["externalReference"]
    assert attributes.get(sa.CHECKOUT_STATUS) == "AWAITING_PAYMENT"


async def test_replayed_key_returns_the_same_checkout_with_200(live_settings, temporal_env, db):
    settings = live_settings()
    key = f"order-{uuid.uuid4()}"
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        first = await client.post("/api/payments/checkout", **_checkout(settings, key=key))
        again = await client.post("/api/payments/checkout", **_checkout(settings, key=key))
        other_plan = await client.post("/api/payments/checkout", **_checkout(settings, plan_id=2, key=key))
        no_key = await client.post("/api/payments/checkout", **_checkout(settings))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["checkoutId"] == checkout_id_for(ALICE, key)
    assert other_plan.status_code == 409
    assert other_plan.json()["error"] == "idempotency_key_reused"
    assert no_key.status_code == 201 and no_key.json()["checkoutId"] != first.json()["checkoutId"]


async def test_replayed_key_of_an_ended_checkout_is_answered_from_the_read_model(live_settings, temporal_env, db):
    settings = live_settings()
    key = f"order-{uuid.uuid4()}"
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        first = (await client.post("/api/payments/checkout", **_checkout(settings, key=key))).json()
        handle = temporal_env.client.get_workflow_handle(checkout_workflow_id(first["checkoutId"]))
        await handle.signal(StandInCheckout.finish)
        await asyncio.wait_for(handle.result(), 10)
        await _persist(db, first, "COMPLETED")  # what the real workflow's activity persisted
        again = await client.post("/api/payments/checkout", **_checkout(settings, key=key))
        other_plan = await client.post("/api/payments/checkout", **_checkout(settings, plan_id=2, key=key))
    # a second run would have answered 201 with a new preference
    assert again.status_code == 200 and again.json() == first
    assert other_plan.status_code == 409 and other_plan.json()["error"] == "idempotency_key_reused"


async def test_checkout_for_another_user_is_403_unless_admin(live_settings, temporal_env, db):
    settings = live_settings()
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        forbidden = await client.post("/api/payments/checkout", **_checkout(settings, user_id=BOB, token_user=ALICE))
        admin = await client.post(
            "/api/payments/checkout",
            json={"userId": BOB, "planId": 1},
            headers=bearer(settings, ADMIN, roles=["admin"]),
        )
        anonymous = await client.post("/api/payments/checkout", json={"userId": BOB, "planId": 1})
    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert admin.status_code == 201
    assert anonymous.status_code == 401


async def test_a_checkout_not_ready_in_time_is_busy_and_a_retry_with_its_key_gets_it(live_settings, temporal_env, db):
    settings = live_settings(checkout_answer_timeout="PT0.3S")
    key = f"order-{uuid.uuid4()}"
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        started = time.monotonic()
        busy = await client.post("/api/payments/checkout", **_checkout(settings, user_id=SLOW_BUYER, key=key))
        answered_in = time.monotonic() - started
        handle = temporal_env.client.get_workflow_handle(checkout_workflow_id(checkout_id_for(SLOW_BUYER, key)))
        await handle.signal(StandInCheckout.release)
        retried = await client.post("/api/payments/checkout", **_checkout(settings, user_id=SLOW_BUYER, key=key))
        again = await client.post("/api/payments/checkout", **_checkout(settings, user_id=SLOW_BUYER, key=key))
        metrics = (await client.get("/metrics")).text
    assert busy.status_code == 503 and busy.json()["error"] == "checkout_busy"
    assert busy.headers["Retry-After"] == "1" and "same Idempotency-Key" in busy.json()["message"]
    assert answered_in < 2
    # the workflow went on: the retry lands on it and gets the one preference it made
    assert retried.status_code in (200, 201) and retried.json()["checkoutId"] == checkout_id_for(SLOW_BUYER, key)
    assert again.status_code == 200 and again.json() == retried.json()
    assert 'paysaga_checkouts_busy_total{reason="slow"} 1.0' in metrics


async def test_checkouts_beyond_the_in_flight_limit_are_refused_at_once_and_start_nothing(
    live_settings, temporal_env, db
):
    settings = live_settings(checkout_max_in_flight=1, checkout_answer_timeout="PT10S")
    slow_key, refused_key = f"order-{uuid.uuid4()}", f"order-{uuid.uuid4()}"
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        waiting = asyncio.create_task(
            client.post("/api/payments/checkout", **_checkout(settings, user_id=SLOW_BUYER, key=slow_key))
        )
        slow = temporal_env.client.get_workflow_handle(checkout_workflow_id(checkout_id_for(SLOW_BUYER, slow_key)))
        await eventually(lambda: _started(slow), timeout=10)
        started = time.monotonic()
        refused = await client.post("/api/payments/checkout", **_checkout(settings, key=refused_key))
        answered_in = time.monotonic() - started
        refused_started = await _started(
            temporal_env.client.get_workflow_handle(checkout_workflow_id(checkout_id_for(ALICE, refused_key)))
        )
        await slow.signal(StandInCheckout.release)
        first = await waiting
        after = await client.post("/api/payments/checkout", **_checkout(settings, key=refused_key))
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 503 and refused.json()["error"] == "checkout_busy"
    assert refused.headers["Retry-After"] in {"1", "2", "3"} and answered_in < 1  # spread: not all back at once
    assert not refused_started
    assert first.status_code == 201
    assert after.status_code == 201  # the refused key's first answer
    assert 'paysaga_checkouts_busy_total{reason="full"} 1.0' in metrics


async def _persist(db, created: dict, status: str) -> None:
    """The checkout row the workflow writes once its preference exists (plan 1, ALICE)."""
    async with db() as session, session.begin():
        session.add(
            CheckoutRow(
                checkout_id=created["checkoutId"],
                external_reference=created["externalReference"],
                preference_id=created["preferenceId"],
                init_point=created["initPoint"],
                sandbox_init_point=created["sandboxInitPoint"],
                user_id=ALICE,
                plan_id=1,
                amount=Decimal("9.99"),
                currency="ARS",
                status=status,
                created_at=CREATED_AT,
            )
        )


async def _started(handle) -> bool:
    try:
        await handle.describe()
    except RPCError:
        return False
    return True


async def test_a_key_whose_preference_exists_is_answered_from_the_read_model_without_temporal(make_settings, db):
    settings = make_settings()  # Temporal is not there: only the read model can answer
    key = f"order-{uuid.uuid4()}"
    checkout_id = checkout_id_for(ALICE, key)
    made = {
        "checkoutId": checkout_id,
        "preferenceId": "724484980-made-once",
        "initPoint": "https://mp.example/checkout?pref=made-once",
        "sandboxInitPoint": "https://sandbox.mp.example/checkout?pref=made-once",
        "externalReference": f"PLAN-1-USER-{ALICE}-{checkout_id[:8]}",
        "createdAt": "2025-03-01T12:00:00Z",
    }
    await _persist(db, made, "AWAITING_PAYMENT")
    async with serve(settings) as client:
        retried = await client.post("/api/payments/checkout", **_checkout(settings, key=key))
        other_plan = await client.post("/api/payments/checkout", **_checkout(settings, plan_id=2, key=key))
        new_key = await client.post("/api/payments/checkout", **_checkout(settings, key=f"order-{uuid.uuid4()}"))
    assert retried.status_code == 200 and retried.json() == made
    assert other_plan.status_code == 409 and other_plan.json()["error"] == "idempotency_key_reused"
    assert new_key.status_code == 503 and new_key.json()["error"] == "temporal_unavailable"


async def test_unknown_plan_is_404(make_settings, db):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.post("/api/payments/checkout", **_checkout(settings, plan_id=404))
    assert response.status_code == 404
    assert response.json() == {"error": "plan_not_found", "message": "plan 404 does not exist"}


@pytest.mark.parametrize(
    "body, headers",
    [
        ({"userId": "one", "planId": 1}, {}),
        ({"planId": 1}, {}),
        ({"userId": ALICE, "planId": 1}, {"Idempotency-Key": "k" * 201}),
        ({"userId": ALICE, "planId": 1}, {"Idempotency-Key": ""}),
    ],
)
async def test_invalid_checkout_request_is_422(make_settings, db, body, headers):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.post(
            "/api/payments/checkout", json=body, headers={**bearer(settings, ALICE), **headers}
        )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error" and response.json()["message"]


async def test_checkout_with_temporal_down_is_503_quickly(make_settings, db):
    settings = make_settings()
    async with serve(settings) as client:
        started = time.monotonic()
        response = await client.post("/api/payments/checkout", **_checkout(settings))
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"] == "temporal_unavailable"
    assert elapsed < 10


async def test_cancel_goes_through_the_subscription_workflow(live_settings, temporal_env, seed):
    settings = live_settings()
    async with stand_ins(temporal_env, settings), serve(settings) as client:
        handle = await temporal_env.client.start_workflow(
            "SubscriptionWorkflow", ALICE, id=subscription_workflow_id(ALICE), task_queue=settings.temporal_task_queue
        )
        try:
            response = await client.post(
                f"/api/subscriptions/{seed.alice_subscription}/cancel", headers=bearer(settings, ALICE)
            )
            assert response.status_code == 200
            assert response.json()["subscriptionId"] == seed.alice_subscription
            assert response.json()["status"] == "CANCELLED" and response.json()["message"]
            assert await handle.query(StandInSubscription.cancelled_by_whom) == str(ALICE)
        finally:
            await handle.terminate()


async def test_cancel_without_a_running_workflow_is_409(live_settings, temporal_env, seed):
    settings = live_settings()
    async with serve(settings) as client:
        response = await client.post(
            f"/api/subscriptions/{seed.alice_subscription}/cancel", headers=bearer(settings, ALICE)
        )
    assert response.status_code == 409
    assert response.json()["error"] == "subscription_not_active"
