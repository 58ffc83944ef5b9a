"""What a workflow test drives: a worker hosting the real workflows, with MercadoPago and the read
model replaced by fakes, and the calls that make a purchase happen (start a checkout, notify a
payment) made as the API makes them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.routing import RoutingActivities
from activities.subscriptions import SubscriptionActivities
from domain.plans import Plan
from domain.references import external_reference_for
from domain.statuses import PaymentStatus
from tests.workflows.fakes import FakeMercadoPago, FakeStore, payment
from worker import WORKFLOWS
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import CheckoutCreated, CheckoutInput, CheckoutRequest
from workflows.ids import checkout_workflow_id, payment_workflow_id, subscription_workflow_id
from workflows.payment_messages import PaymentNotification
from workflows.starters import notify_payment_workflow

MONTHLY = Plan(id=1, code="BASIC", name="Plan BASIC", price=Decimal("9.99"), currency="ARS", billing_cycle="monthly")
# a period that ends while the test watches
TWO_SECONDS = Plan(id=90, code="TICK", name="Tick plan", price=Decimal("2.50"), currency="ARS", billing_cycle="PT2S")
PLANS = (MONTHLY, TWO_SECONDS)

# A payment workflow ends after this long without notifications.
PAYMENT_IDLE_SECONDS = 1.0

# Each test buys as users and pays with ids of its own: workflow ids are per user and per payment.
_user_ids = itertools.count(1)
_payment_ids = itertools.count(7_000_000_001)


def new_user_id() -> int:
    return next(_user_ids)


def new_payment_id() -> str:
    return str(next(_payment_ids))


@dataclass
class Checkout:
    handle: WorkflowHandle
    input: CheckoutInput
    created: CheckoutCreated

    @property
    def user_id(self) -> int:
        return self.input.user_id

    @property
    def external_reference(self) -> str:
        return self.input.external_reference


@dataclass
class Saga:
    client: Client
    task_queue: str
    mercadopago: FakeMercadoPago
    store: FakeStore
    router_idle_seconds: float

    async def start_checkout(self, plan: Plan = MONTHLY, *, deadline_seconds: float = 30) -> Checkout:
        """A checkout whose preference has been created (and so saved: its payments can find it)."""
        user_id = new_user_id()
        checkout_id = uuid.uuid4().hex
        input = CheckoutInput(
            checkout_id=checkout_id,
            user_id=user_id,
            plan=plan,
            external_reference=external_reference_for(plan.id, user_id, checkout_id),
            deadline_seconds=deadline_seconds,
        )
        handle = await self.client.start_workflow(
            CheckoutWorkflow.run, input, id=checkout_workflow_id(checkout_id), task_queue=self.task_queue
        )
        created = await handle.execute_update(
            CheckoutWorkflow.request_preference, CheckoutRequest(user_id=user_id, plan_id=plan.id)
        )
        return Checkout(handle, input, created)

    async def pay(
        self,
        checkout: Checkout,
        status: PaymentStatus = PaymentStatus.APPROVED,
        amount: Decimal | None = None,
        payment_id: str | None = None,
    ) -> str:
        """A payment for the checkout, known to MercadoPago and notified once. Returns its id."""
        payment_id = payment_id or new_payment_id()
        price = checkout.input.plan.price if amount is None else amount
        self.mercadopago.serve(payment(payment_id, checkout.external_reference, status, price))
        await self.notify(payment_id)
        return payment_id

    async def notify(self, mercadopago_payment_id: str) -> WorkflowHandle:
        """A webhook for the payment, relayed as the API relays it."""
        return await notify_payment_workflow(
            self.client,
            task_queue=self.task_queue,
            mercadopago_payment_id=mercadopago_payment_id,
            idle_seconds=self.router_idle_seconds,
            notification=PaymentNotification(topic="payment", action="payment.updated"),
        )

    def payment_workflow(self, mercadopago_payment_id: str) -> WorkflowHandle:
        """The payment's workflow (its latest run)."""
        return self.client.get_workflow_handle(payment_workflow_id(mercadopago_payment_id))

    def subscription(self, user_id: int) -> WorkflowHandle:
        return self.client.get_workflow_handle(subscription_workflow_id(user_id))


@asynccontextmanager
async def running_saga(client: Client, *, apply_payment: Callable | None = None) -> AsyncIterator[Saga]:
    """A worker on a task queue of its own, hosting every workflow the real worker hosts. The
    activities that only reach other workflows are the real ones, unless `apply_payment` replaces
    the subscription's."""
    task_queue = f"workflow-tests-{uuid.uuid4().hex}"
    mercadopago = FakeMercadoPago()
    store = FakeStore(plans={plan.id: plan for plan in PLANS})
    subscriptions = SubscriptionActivities(
        client, task_queue, continue_as_new_after=500, renewal_reminder_lead_seconds=0
    )
    routing = RoutingActivities(client, task_queue, PAYMENT_IDLE_SECONDS)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            *mercadopago.activities(),
            *store.activities(),
            apply_payment or subscriptions.apply_payment,
            subscriptions.reverse_payment,
            routing.hand_to_checkout,
        ],
    )
    async with worker:
        yield Saga(client, task_queue, mercadopago, store, PAYMENT_IDLE_SECONDS)
