"""PaymentWorkflow: one per MercadoPago payment id, started (or signalled) by each notification.

A notification is a hint, never a fact: on every batch of notifications the payment is read
back from MercadoPago, persisted (statuses only move forward), and handed to its checkout, found
by external reference. When that checkout has already closed (a late payment, a refund months
later) this workflow settles the payment itself. Notifications that arrive while one is being
handled are coalesced into one more read.

An id MercadoPago does not know (anyone can notify any id) is not a business event: no audit
record. The workflow stays and absorbs further notifications for that id without reading it
again for a back-off window (the gateway says how long); if any came meanwhile it reads once more (a
payment notified a moment before MercadoPago serves it is still read), and it ends when idle.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from domain.gateway import PaymentSnapshot
    from domain.plans import Plan
    from domain.references import parse_external_reference
    from store.records import CheckoutRecord, CheckoutRef, PaymentRecord, StoredPayment
    from workflows import activity_options as options
    from workflows import local_first, patches
    from workflows.audit import audit
    from workflows.checkout_messages import PaymentObserved
    from workflows.ids import checkout_workflow_id
    from workflows.payment_messages import PaymentForCheckout, PaymentInput, PaymentNotification
    from workflows.search_attributes import EXTERNAL_REFERENCE, PLAN_ID, USER_ID
    from workflows.settlement import Settled, checkout_status_after, settle

# Signals are capped per execution; continue as new long before that.
_MAX_NOTIFICATIONS_PER_RUN = 1000
# how long an unknown payment's notifications are absorbed when the gateway does not say
_DEFAULT_UNKNOWN_RECHECK = timedelta(minutes=10)


class _Unknown:
    """MercadoPago answered 404: wait `recheck` before reading that id again."""

    def __init__(self, recheck: timedelta) -> None:
        self.recheck = recheck


@workflow.defn
class PaymentWorkflow:
    @workflow.init
    def __init__(self, input: PaymentInput) -> None:
        self._payment_id = input.mercadopago_payment_id
        self._notifications = input.pending_notifications
        self._notifications_this_run = 0
        self._routed: set[str] = set()  # statuses already handed on
        self._searchable = False  # search attributes set (once per run)

    @workflow.signal
    def notify(self, notification: PaymentNotification) -> None:
        self._notifications += 1
        self._notifications_this_run += 1

    @workflow.run
    async def run(self, input: PaymentInput) -> None:
        idle = timedelta(seconds=input.idle_seconds)
        while True:
            try:
                await workflow.wait_condition(lambda: self._notifications > 0, timeout=idle)
            except TimeoutError:
                return  # quiet for a while: a later notification starts a fresh run
            self._notifications = 0
            handled = await self._handle()
            if not handled:
                return
            if isinstance(handled, _Unknown):
                # notifications arriving meanwhile only count: the read after the window covers them all
                # (a flood that reaches the per-run cap ends the wait early, to continue as new)
                try:
                    await workflow.wait_condition(
                        lambda: self._notifications_this_run >= _MAX_NOTIFICATIONS_PER_RUN, timeout=handled.recheck
                    )
                except TimeoutError:
                    pass
            if (
                self._notifications_this_run >= _MAX_NOTIFICATIONS_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if workflow.patched(patches.PAYMENT_CARRIES_PENDING_NOTIFICATIONS.id):
                    input = input.model_copy(update={"pending_notifications": self._notifications})
                workflow.continue_as_new(input)

    async def _handle(self) -> bool | _Unknown:
        """Read back, persist, route. False when there is nothing more this payment can become;
        _Unknown when MercadoPago does not know it (yet)."""
        try:
            if workflow.patched(patches.READ_BACK_AS_ACTIVITY.id):
                # an ordinary activity: under load a slow MercadoPago holds an activity slot,
                # never this workflow task (which would outlive its timeout and run twice)
                snapshot = await workflow.execute_activity(
                    "mercadopago.get_payment", self._payment_id, result_type=PaymentSnapshot, **options.MERCADOPAGO
                )
            else:
                snapshot = await local_first.execute(
                    "mercadopago.get_payment",
                    self._payment_id,
                    result_type=PaymentSnapshot,
                    options=options.MERCADOPAGO,
                    patch=patches.READ_BACK_LOCALLY_FIRST.id,
                )
        except local_first.FAILED as err:
            failure = local_first.failure_of(err)
            if _not_found(failure) and workflow.patched(patches.UNKNOWN_PAYMENT_BACKS_OFF.id):
                return _Unknown(_recheck_after(failure))
            # a revoked token (401/403), an operator's problem (and, in older histories, a 404):
            # audited, nothing else to do
            await audit("payment.unreadable", None, self._payment_id, None, {"error": _cause(failure)})
            return False
        reference = parse_external_reference(snapshot.external_reference)
        stored = await workflow.execute_local_activity(
            "store.save_payment",
            PaymentRecord(
                payment=snapshot,
                user_id=reference.user_id if reference else None,
                plan_id=reference.plan_id if reference else None,
            ),
            result_type=StoredPayment,
            **options.STORE,
        )
        if reference is None:
            await audit("payment.not_ours", None, self._payment_id, snapshot.external_reference)
            return True
        if not self._searchable:
            # operators find a payment's workflow beside its checkout, by user, plan or reference
            workflow.deprecate_patch(patches.PAYMENT_SEARCH_ATTRIBUTES.id)
            self._searchable = True
            workflow.upsert_search_attributes(
                [
                    USER_ID.value_set(reference.user_id),
                    PLAN_ID.value_set(reference.plan_id),
                    EXTERNAL_REFERENCE.value_set(snapshot.external_reference),
                ]
            )
        if str(stored.status) in self._routed:
            return True  # nothing new since we last handed it on
        self._routed.add(str(stored.status))
        observed = PaymentObserved.of(snapshot, stored)
        checkout = await workflow.execute_local_activity(
            "store.find_checkout",
            snapshot.external_reference,
            # temporalio types result_type as a class, though it converts to a union too
            result_type=CheckoutRef | None,  # type: ignore[arg-type]
            **options.STORE,
        )
        if checkout is not None and await self._hand_to_checkout(checkout, observed):
            return True
        settled = await self._settle_alone(reference.user_id, reference.plan_id, observed, snapshot.external_reference)
        if checkout is not None and settled is not None:
            await self._record_on_checkout(checkout, observed, snapshot.external_reference, settled)
        return True

    async def _hand_to_checkout(self, checkout: CheckoutRef, observed: PaymentObserved) -> bool:
        if workflow.patched(patches.HAND_TO_CHECKOUT_FROM_A_LOCAL_ACTIVITY.id):
            # signalled by the client inside this workflow task: no signal command whose
            # completion would wake this workflow for one more task
            return await workflow.execute_local_activity(
                "routing.hand_to_checkout",
                PaymentForCheckout(checkout_id=checkout.checkout_id, observed=observed),
                result_type=bool,
                **options.STORE,
            )
        handle = workflow.get_external_workflow_handle(checkout_workflow_id(checkout.checkout_id))
        try:
            await handle.signal("payment_observed", observed)
        except FailureError:
            return False  # the checkout has closed: this payment is ours to settle
        return True

    async def _settle_alone(
        self, user_id: int, plan_id: int, observed: PaymentObserved, reference: str
    ) -> Settled | None:
        plan = await workflow.execute_local_activity(
            "store.get_plan",
            plan_id,
            result_type=Plan | None,  # type: ignore[arg-type]  # a union, converted as such
            **options.STORE,
        )
        if plan is None:
            await audit(
                "payment.unknown_plan", user_id, observed.mercadopago_payment_id, reference, {"planId": str(plan_id)}
            )
            return None
        return await settle(plan, user_id, observed, reference)

    async def _record_on_checkout(
        self, checkout: CheckoutRef, observed: PaymentObserved, reference: str, settled: Settled
    ) -> None:
        """The closed checkout's row shows what became of its late payment (statuses only move forward)."""
        await workflow.execute_local_activity(
            "store.save_checkout",
            CheckoutRecord(
                checkout_id=checkout.checkout_id,
                external_reference=reference,
                user_id=checkout.user_id,
                plan_id=checkout.plan_id,
                amount=observed.amount,
                currency=observed.currency,
                status=checkout_status_after(settled),
                created_at=workflow.now(),
                mercadopago_payment_id=observed.mercadopago_payment_id,
            ),
            **options.STORE,
        )


def _not_found(failure: BaseException) -> bool:
    return isinstance(failure, ApplicationError) and failure.type == "MercadoPagoNotFound"


def _recheck_after(failure: BaseException) -> timedelta:
    """The back-off the gateway attached to its 404 (seconds), else the default."""
    details = failure.details if isinstance(failure, ApplicationError) else ()
    if details and isinstance(details[0], (int, float)) and details[0] > 0:
        return timedelta(seconds=float(details[0]))
    return _DEFAULT_UNKNOWN_RECHECK


def _cause(failure: BaseException) -> str:
    if isinstance(failure, ApplicationError):
        return f"{failure.type}: {failure.message}"[:200]
    return str(failure)[:200]
