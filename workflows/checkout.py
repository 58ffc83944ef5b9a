"""CheckoutWorkflow: one Checkout Pro purchase, from preference to paid period.

1. create the preference at MercadoPago and answer the API's update with its initPoint;
2. wait for payments of this checkout (signalled by their payment workflows, which read them
   back from MercadoPago) until the deadline;
3. an approved payment of the plan's price and currency extends the subscription; any other
   amount is refunded; a rejected payment lets the buyer try again;
4. at the deadline with nothing approved, search MercadoPago by external reference (the webhook
   may never have come) and apply what is found, else end EXPIRED.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.gateway import CreatePreferenceInput, PaymentSnapshot, PreferenceCreated
    from domain.idempotency import idempotency_key
    from domain.statuses import CheckoutStatus, PaymentStatus
    from store.records import CheckoutRecord, PaymentRecord, StoredPayment
    from workflows import activity_options as options
    from workflows import local_first, patches
    from workflows.audit import audit
    from workflows.checkout_messages import (
        CheckoutCreated,
        CheckoutInput,
        CheckoutOutcome,
        CheckoutRequest,
        PaymentObserved,
    )
    from workflows.search_attributes import CHECKOUT_STATUS
    from workflows.settlement import Settled, checkout_status_after, settle


# Why the preference update can be refused; the API maps them to 409 and 503.
KEY_REUSED = "IdempotencyKeyReused"
PREFERENCE_FAILED = "PreferenceFailed"


@workflow.defn
class CheckoutWorkflow:
    @workflow.init
    def __init__(self, input: CheckoutInput) -> None:
        self._input = input
        self._status = CheckoutStatus.AWAITING_PAYMENT
        self._created: CheckoutCreated | None = None
        self._creation_failed: str | None = None
        self._answers = 0
        self._inbox: list[PaymentObserved] = []
        self._seen: set[tuple[str, str]] = set()
        self._payment_id: str | None = None

    @workflow.run
    async def run(self, input: CheckoutInput) -> CheckoutOutcome:
        started = workflow.info().start_time
        request = CreatePreferenceInput(
            checkout_id=input.checkout_id,
            external_reference=input.external_reference,
            user_id=input.user_id,
            plan=input.plan,
            idempotency_key=idempotency_key(workflow.info().workflow_id, "preference"),
        )
        try:
            if workflow.patched(patches.CREATE_PREFERENCE_AS_ACTIVITY.id):
                # an ordinary activity: under load a slow MercadoPago holds an activity slot,
                # never this workflow task (which would outlive its timeout and run twice)
                preference = await workflow.execute_activity(
                    "mercadopago.create_preference", request, result_type=PreferenceCreated, **options.CREATE_PREFERENCE
                )
            else:
                preference = await local_first.execute(
                    "mercadopago.create_preference",
                    request,
                    result_type=PreferenceCreated,
                    options=options.CREATE_PREFERENCE,
                    patch=patches.CREATE_PREFERENCE_LOCALLY_FIRST.id,
                )
        except local_first.FAILED as err:
            self._creation_failed = str(local_first.failure_of(err))
            await audit(
                "checkout.preference_failed",
                input.user_id,
                None,
                input.external_reference,
                {"error": self._creation_failed[:200]},
            )
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise ApplicationError(
                f"could not create the preference: {self._creation_failed}", type=PREFERENCE_FAILED
            ) from None
        await self._save(preference)
        self._created = CheckoutCreated(
            checkout_id=input.checkout_id,
            preference_id=preference.preference_id,
            init_point=preference.init_point,
            sandbox_init_point=preference.sandbox_init_point,
            external_reference=input.external_reference,
            created_at=started,
        )

        deadline = started + timedelta(seconds=input.deadline_seconds)
        while not self._finished():
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox), timeout=max(deadline - workflow.now(), timedelta(0))
                )
            except TimeoutError:
                await self._reconcile()
                break
            await self._drain_inbox()
        # answer any update still waiting, and act on payments signalled meanwhile
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._drain_inbox()
        return CheckoutOutcome(
            checkout_id=input.checkout_id, status=self._status, mercadopago_payment_id=self._payment_id
        )

    # --- messages ------------------------------------------------------------------------

    @workflow.update
    async def request_preference(self, request: CheckoutRequest) -> CheckoutCreated:
        await workflow.wait_condition(lambda: self._created is not None or self._creation_failed is not None)
        if self._created is None:
            raise ApplicationError("MercadoPago could not create the preference", type=PREFERENCE_FAILED)
        replayed = self._answers > 0
        self._answers += 1
        return self._created.model_copy(update={"replayed": replayed})

    @request_preference.validator
    def _same_purchase(self, request: CheckoutRequest) -> None:
        if (request.user_id, request.plan_id) != (self._input.user_id, self._input.plan.id):
            raise ApplicationError(
                "this Idempotency-Key was already used for another purchase", type=KEY_REUSED, non_retryable=True
            )

    @workflow.signal
    def payment_observed(self, observed: PaymentObserved) -> None:
        self._inbox.append(observed)

    @workflow.query
    def status(self) -> CheckoutStatus:
        return self._status

    # --- steps ---------------------------------------------------------------------------

    def _finished(self) -> bool:
        return self._status in (CheckoutStatus.COMPLETED, CheckoutStatus.REFUNDED, CheckoutStatus.EXPIRED)

    async def _drain_inbox(self) -> None:
        while self._inbox:
            observed = self._inbox.pop(0)
            seen = (observed.mercadopago_payment_id, str(observed.status))
            if seen in self._seen:
                continue  # a duplicate notification: already acted on
            self._seen.add(seen)
            await self._act_on(observed)

    async def _act_on(self, observed: PaymentObserved) -> None:
        input = self._input
        settled = await settle(input.plan, input.user_id, observed, input.external_reference)
        if self._finished():
            # a second payment stands on its own; only our own payment's refund changes us
            if observed.mercadopago_payment_id == self._payment_id and settled in (Settled.REVERSED, Settled.REFUNDED):
                await self._set_status(CheckoutStatus.REFUNDED)
            return
        self._payment_id = observed.mercadopago_payment_id
        await self._set_status(checkout_status_after(settled))

    async def _reconcile(self) -> None:
        """The deadline passed with nothing applied: ask MercadoPago directly."""
        input = self._input
        found = await workflow.execute_activity(
            "mercadopago.search_payments",
            input.external_reference,
            result_type=list[PaymentSnapshot],
            **options.MERCADOPAGO,
        )
        # an approved payment first: that is the one that completes the checkout
        found.sort(key=lambda p: p.status != PaymentStatus.APPROVED)
        for snapshot in found:
            stored = await workflow.execute_local_activity(
                "store.save_payment",
                PaymentRecord(payment=snapshot, user_id=input.user_id, plan_id=input.plan.id),
                result_type=StoredPayment,
                **options.STORE,
            )
            self._inbox.append(PaymentObserved.of(snapshot, stored))
        await audit("checkout.reconciled", input.user_id, None, input.external_reference, {"found": str(len(found))})
        await self._drain_inbox()
        if not self._finished():
            await self._set_status(CheckoutStatus.EXPIRED)

    async def _set_status(self, status: CheckoutStatus) -> None:
        if status == self._status:
            return
        self._status = status
        workflow.upsert_search_attributes([CHECKOUT_STATUS.value_set(str(status))])
        await self._save()

    async def _save(self, preference: PreferenceCreated | None = None) -> None:
        input = self._input
        await workflow.execute_local_activity(
            "store.save_checkout",
            CheckoutRecord(
                checkout_id=input.checkout_id,
                external_reference=input.external_reference,
                user_id=input.user_id,
                plan_id=input.plan.id,
                amount=input.plan.price,
                currency=input.plan.currency,
                status=self._status,
                created_at=workflow.info().start_time,
                preference_id=preference.preference_id if preference else None,
                init_point=preference.init_point if preference else None,
                sandbox_init_point=preference.sandbox_init_point if preference else None,
                mercadopago_payment_id=self._payment_id,
            ),
            **options.STORE,
        )
