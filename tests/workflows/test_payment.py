"""Notifications are hints: however often, however late, a payment is read back and acted on once;
an id MercadoPago does not know is no business event."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.statuses import CheckoutStatus, PaymentStatus, SubscriptionStatus
from tests.support.waiting import eventually
from tests.workflows.saga import MONTHLY, Saga, new_payment_id
from workflows.checkout import CheckoutWorkflow
from workflows.checkout_messages import PaymentObserved
from workflows.subscription import SubscriptionWorkflow


async def test_repeated_notifications_of_one_payment_apply_it_once(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)

    payment_id = await saga.pay(checkout)
    await saga.notify(payment_id)
    await saga.notify(payment_id)

    assert (await checkout.handle.result()).status == CheckoutStatus.COMPLETED
    await saga.payment_workflow(payment_id).result()  # every notification handled: the payment workflow went idle
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]
    assert saga.mercadopago.refunds == []


async def test_the_same_payment_signalled_twice_to_its_checkout_is_acted_on_once(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)
    observed = PaymentObserved(
        mercadopago_payment_id=new_payment_id(),
        payment_id=1,
        status=PaymentStatus.APPROVED,
        amount=MONTHLY.price,
        currency=MONTHLY.currency,
        approved_at=datetime.now(UTC),
    )

    await checkout.handle.signal(CheckoutWorkflow.payment_observed, observed)
    await checkout.handle.signal(CheckoutWorkflow.payment_observed, observed)

    assert (await checkout.handle.result()).status == CheckoutStatus.COMPLETED
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]


async def test_a_notification_after_the_checkout_closed_does_not_apply_the_payment_again(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)
    payment_id = await saga.pay(checkout)
    assert (await checkout.handle.result()).status == CheckoutStatus.COMPLETED
    await saga.payment_workflow(payment_id).result()

    await saga.notify(
        payment_id
    )  # a new payment workflow run: the checkout is closed, the payment workflow settles alone
    await saga.payment_workflow(payment_id).result()

    assert len(saga.mercadopago.reads_of(payment_id)) == 2
    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated"]
    last = saga.store.checkouts[-1]
    assert (last.checkout_id, last.status) == (checkout.input.checkout_id, CheckoutStatus.COMPLETED)


async def test_a_refund_after_the_checkout_closed_takes_the_period_back(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)
    payment_id = await saga.pay(checkout)
    assert (await checkout.handle.result()).status == CheckoutStatus.COMPLETED

    refunded = saga.mercadopago.payments[payment_id].model_copy(update={"status": PaymentStatus.REFUNDED})
    saga.mercadopago.serve(refunded)
    await saga.notify(payment_id)
    await eventually(
        lambda: _events(saga, checkout.user_id, 2), timeout=10, what="the subscription takes the period back"
    )
    await saga.payment_workflow(payment_id).result()

    assert saga.store.subscription_events(checkout.user_id) == ["subscription.activated", "subscription.revoked"]
    view = await saga.subscription(checkout.user_id).query(SubscriptionWorkflow.view)
    assert view.status == SubscriptionStatus.EXPIRED
    # the closed checkout's row shows what became of its payment; no refund of ours
    assert saga.store.checkout_statuses(checkout.input.checkout_id)[-1] == CheckoutStatus.REFUNDED
    assert saga.mercadopago.refunds == []


async def test_an_unknown_payment_is_read_once_and_not_audited(saga: Saga):
    unknown = new_payment_id()

    await saga.notify(unknown)
    await saga.payment_workflow(unknown).result()  # back-off, then idle: the payment workflow ends

    assert len(saga.mercadopago.reads_of(unknown)) == 1
    assert saga.store.audit_actions(unknown) == []
    assert unknown not in saga.store.payments


async def test_a_payment_notified_before_mercadopago_serves_it_is_read_again_after_the_back_off(saga: Saga):
    checkout = await saga.start_checkout(MONTHLY)
    payment_id = new_payment_id()

    await saga.notify(payment_id)
    await eventually(lambda: _read(saga, payment_id), timeout=10, what="the first read of the payment")
    # MercadoPago now serves it, and notifies again during the back-off
    await saga.pay(checkout, payment_id=payment_id)

    outcome = await checkout.handle.result()
    assert (outcome.status, outcome.mercadopago_payment_id) == (CheckoutStatus.COMPLETED, payment_id)
    first, second = saga.mercadopago.reads_of(payment_id)
    assert second - first >= 0.9 * saga.mercadopago.unknown_recheck_after_seconds
    assert saga.store.audit_actions(payment_id) == []


async def _read(saga: Saga, payment_id: str) -> bool:
    return bool(saga.mercadopago.reads_of(payment_id))


async def _events(saga: Saga, user_id: int, count: int) -> bool:
    return len(saga.store.subscription_events(user_id)) >= count
