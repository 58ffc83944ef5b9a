"""The checkout saga's decisions, one purchase each: what it applies, refunds, retries and expires."""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from domain.statuses import CheckoutStatus, PaymentStatus, SubscriptionStatus
from tests.support.waiting import eventually
from tests.workflows.fakes import payment
from tests.workflows.saga import MONTHLY, Saga, new_payment_id, running_saga
from workflows.checkout import CheckoutWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_messages import ApplyPayment, SubscriptionView


async def test_a_payment_of_the_plans_price_activates_the_subscription(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)
    assert checkout.created.init_point.startswith("https://mercadopago.test/")
    assert [p.checkout_id for p in saga.mercadopago.preferences] == [checkout.input.checkout_id]

    payment_id = await saga.pay(checkout)

    outcome = await checkout.handle.result()
    assert (outcome.status, outcome.mercadopago_payment_id) == (CheckoutStatus.COMPLETED, payment_id)
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]
    [ledger] = saga.store.subscriptions[0].ledger
    assert (ledger.mercadopago_payment_id, ledger.plan_id) == (payment_id, MONTHLY.id)
    view = await saga.subscription(checkout.user_id).query(SubscriptionWorkflow.view)
    assert (view.status, view.plan_id) == (SubscriptionStatus.ACTIVE, MONTHLY.id)
    assert saga.store.checkout_statuses(checkout.input.checkout_id)[-1] == CheckoutStatus.COMPLETED
    assert saga.mercadopago.refunds == []


async def test_an_amount_other_than_the_price_is_refunded_and_buys_nothing(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)

    payment_id = await saga.pay(checkout, amount=Decimal("1.00"))

    outcome = await checkout.handle.result()
    assert outcome.status == CheckoutStatus.REFUNDED
    assert [r.mercadopago_payment_id for r in saga.mercadopago.refunds] == [payment_id]
    assert saga.store.audit_actions(payment_id) == ["payment.amount_mismatch", "payment.refunded_by_us"]
    assert saga.store.subscription_events(checkout.user_id) == []


async def test_a_rejected_payment_lets_the_buyer_pay_again(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)

    await saga.pay(checkout, PaymentStatus.REJECTED)

    async def rejected():
        return await checkout.handle.query(CheckoutWorkflow.status) == CheckoutStatus.REJECTED

    await eventually(rejected, timeout=10, what="the checkout shows the rejection")
    approved = await saga.pay(checkout)
    outcome = await checkout.handle.result()
    assert (outcome.status, outcome.mercadopago_payment_id) == (CheckoutStatus.COMPLETED, approved)
    assert saga.store.checkout_statuses(checkout.input.checkout_id) == [
        CheckoutStatus.AWAITING_PAYMENT,
        CheckoutStatus.REJECTED,
        CheckoutStatus.COMPLETED,
    ]
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]
    assert saga.mercadopago.refunds == []


async def test_at_the_deadline_with_nothing_paid_the_checkout_expires(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY, deadline_seconds=1)

    outcome = await checkout.handle.result()

    assert outcome.status == CheckoutStatus.EXPIRED
    # MercadoPago was asked first: the notification may never have come
    assert saga.mercadopago.searches == [checkout.external_reference]
    [reconciled] = [a for a in saga.store.audits if a.action == "checkout.reconciled"]
    assert reconciled.detail == {"found": "0"}
    assert saga.store.checkout_statuses(checkout.input.checkout_id)[-1] == CheckoutStatus.EXPIRED
    assert saga.store.subscription_events(checkout.user_id) == []


async def test_at_the_deadline_a_payment_whose_notification_never_came_is_applied(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY, deadline_seconds=1)
    payment_id = new_payment_id()
    saga.mercadopago.serve(payment(payment_id, checkout.external_reference, PaymentStatus.APPROVED, MONTHLY.price))

    outcome = await checkout.handle.result()

    assert (outcome.status, outcome.mercadopago_payment_id) == (CheckoutStatus.COMPLETED, payment_id)
    assert saga.mercadopago.reads == []  # found by the search, never notified
    assert payment_id in saga.store.payments
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]


@activity.defn(name="subscription.apply_payment")
async def subscription_refuses(request: ApplyPayment) -> SubscriptionView:
    raise ApplicationError("the subscription refused the payment", non_retryable=True)


async def test_a_payment_whose_period_cannot_be_granted_is_refunded(temporal):
    async with running_saga(temporal.client, apply_payment=subscription_refuses) as saga:
        checkout = await saga.start_checkout(MONTHLY)

        payment_id = await saga.pay(checkout)

        with pytest.raises(WorkflowFailureError):  # the failure stands, after the money went back
            await checkout.handle.result()
        assert [r.mercadopago_payment_id for r in saga.mercadopago.refunds] == [payment_id]
        [refunded] = [a for a in saga.store.audits if a.action == "payment.refunded_by_us"]
        assert refunded.detail["reason"] == "activation_failed"
        assert saga.store.subscription_events(checkout.user_id) == []
