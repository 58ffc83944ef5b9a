"""Acting on a payment read back from MercadoPago: shared by the checkout and the payment workflow.

Both may act on the same payment (a checkout that closes while its payment workflow decides); that is
safe because the subscription de-duplicates by payment id and the refund's idempotency key
is derived from the payment, not from the workflow that sends it.
"""

from __future__ import annotations

from enum import StrEnum

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.gateway import RefundInput, RefundResult
    from domain.idempotency import idempotency_key
    from domain.plans import Plan
    from domain.settlement import Action, decide
    from domain.statuses import CheckoutStatus
    from workflows import activity_options as options
    from workflows.audit import audit
    from workflows.checkout_messages import PaymentObserved
    from workflows.subscription_messages import ApplyPayment, ReversePayment, SubscriptionView


class Settled(StrEnum):
    APPLIED = "APPLIED"
    REFUNDED = "REFUNDED"  # compensated: the money went back to the buyer
    REVERSED = "REVERSED"  # refunded or charged back at MercadoPago: the period was taken back
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    FAILED = "FAILED"  # compensation itself failed: audited for an operator


_CHECKOUT_AFTER = {
    Settled.APPLIED: CheckoutStatus.COMPLETED,
    Settled.REFUNDED: CheckoutStatus.REFUNDED,
    Settled.REVERSED: CheckoutStatus.REFUNDED,
    Settled.FAILED: CheckoutStatus.REJECTED,
    Settled.REJECTED: CheckoutStatus.REJECTED,
    Settled.PENDING: CheckoutStatus.PAYMENT_PENDING,
}


def checkout_status_after(settled: Settled) -> CheckoutStatus:
    """Where a checkout stands once one of its payments was settled."""
    return _CHECKOUT_AFTER[settled]


async def settle(plan: Plan, user_id: int, payment: PaymentObserved, external_reference: str) -> Settled:
    action = decide(plan, payment.status, payment.amount, payment.currency)
    if action == Action.APPLY:
        return await _apply(plan, user_id, payment, external_reference)
    if action == Action.REFUND_MISMATCH:
        await audit(
            "payment.amount_mismatch",
            user_id,
            payment.mercadopago_payment_id,
            external_reference,
            {"paid": f"{payment.amount} {payment.currency}", "price": f"{plan.price} {plan.currency}"},
        )
        return await refund(user_id, payment, external_reference, "amount_mismatch")
    if action == Action.REVERSE:
        await _tell_subscription(
            "subscription.reverse_payment",
            ReversePayment(
                user_id=user_id, mercadopago_payment_id=payment.mercadopago_payment_id, reason=payment.status
            ),
        )
        return Settled.REVERSED
    return Settled.REJECTED if action == Action.RETRY_ALLOWED else Settled.PENDING


async def _apply(plan: Plan, user_id: int, payment: PaymentObserved, external_reference: str) -> Settled:
    request = ApplyPayment(
        user_id=user_id,
        mercadopago_payment_id=payment.mercadopago_payment_id,
        plan=plan,
        approved_at=payment.approved_at or workflow.now(),
    )
    try:
        await _tell_subscription("subscription.apply_payment", request)
    except BaseException:
        # the buyer paid but the period could not be granted (or an operator cancelled us):
        # give the money back, then let the failure stand
        await refund(user_id, payment, external_reference, "activation_failed")
        raise
    return Settled.APPLIED


async def _tell_subscription(activity: str, request: ApplyPayment | ReversePayment) -> SubscriptionView:
    """The user's subscription applies the change and answers (an update, sent by an activity).

    A scheduled activity, never a local one: a local activity would hold this workflow task
    while the subscription's own task waits for a slot on the same workers, and under a burst
    the held tasks can take every slot."""
    return await workflow.execute_activity(activity, request, result_type=SubscriptionView, **options.SUBSCRIPTION)


async def refund(user_id: int, payment: PaymentObserved, external_reference: str, reason: str) -> Settled:
    try:
        result = await workflow.execute_activity(
            "mercadopago.refund_payment",
            RefundInput(
                mercadopago_payment_id=payment.mercadopago_payment_id,
                idempotency_key=idempotency_key(f"refund-{payment.mercadopago_payment_id}", "full"),
            ),
            result_type=RefundResult,
            **options.MERCADOPAGO,
        )
    except ActivityError as err:
        await audit(
            "payment.refund_failed",
            user_id,
            payment.mercadopago_payment_id,
            external_reference,
            {"reason": reason, "error": str(err.cause or err)[:200]},
        )
        return Settled.FAILED
    await audit(
        "payment.refunded_by_us",
        user_id,
        payment.mercadopago_payment_id,
        external_reference,
        {"reason": reason, "refundId": result.refund_id, "amount": str(result.amount)},
    )
    return Settled.REFUNDED
