"""SubscriptionWorkflow: one per user, the entity that owns the user's paid time.

Updates only record intent and wait; the run loop applies intents one at a time, persists
the result, and sleeps on a durable timer until the paid time ends (waking first, once per
period, to send subscription.renewal_due a configured lead before the end: Checkout Pro
payments do not renew by themselves). The ledger of applied payments is the de-duplication:
a payment buys one period once, whatever is redelivered. Every persisted change names its
event, which the store records in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.statuses import SubscriptionStatus
    from domain.subscription import Ledger, status_at
    from store.records import AuditRecord, LedgerChange, SubscriptionRecord
    from workflows import activity_options as options
    from workflows import patches
    from workflows.search_attributes import USER_ID
    from workflows.subscription_messages import (
        ApplyPayment,
        CancelSubscription,
        ReversePayment,
        SubscriptionInput,
        SubscriptionState,
        SubscriptionView,
    )


@dataclass
class _Intent:
    key: str
    request: ApplyPayment | ReversePayment | CancelSubscription


@workflow.defn
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, input: SubscriptionInput) -> None:
        state = input.state or SubscriptionState()
        self._user_id = input.user_id
        self._continue_as_new_after = input.continue_as_new_after
        self._ledger = restore_ledger(state)
        self._version = state.version
        self._subscription_id = state.subscription_id
        self._persisted_status = state.status
        self._intents: list[_Intent] = []
        self._results: dict[str, SubscriptionView] = {}
        self._changes_this_run = 0
        self._renewal_lead_seconds = input.renewal_reminder_lead_seconds
        self._renewal_reminded_for = state.renewal_reminded_for

    @workflow.run
    async def run(self, input: SubscriptionInput) -> None:
        workflow.upsert_search_attributes([USER_ID.value_set(self._user_id)])
        while True:
            if self._sends_renewal_reminders():
                await self._remind_if_due()
            try:
                await workflow.wait_condition(lambda: bool(self._intents), timeout=self._next_wake())
            except TimeoutError:
                pass  # the paid time ran out: fall through to expire
            while self._intents:
                intent = self._intents.pop(0)
                self._results[intent.key] = await self._apply_intent(intent.request)
            await self._expire_if_due()
            if self._should_continue_as_new():
                # let every update see its answer before this run ends
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._intents)
                workflow.continue_as_new(self._carry_over())

    # --- updates: record intent, wait for the run loop's answer -------------------------

    @workflow.update
    async def apply_payment(self, request: ApplyPayment) -> SubscriptionView:
        return await self._submit(request)

    @workflow.update
    async def reverse_payment(self, request: ReversePayment) -> SubscriptionView:
        return await self._submit(request)

    @workflow.update
    async def cancel(self, request: CancelSubscription) -> SubscriptionView:
        return await self._submit(request)

    @apply_payment.validator
    def _validate_apply(self, request: ApplyPayment) -> None:
        self._belongs_to_this_user(request.user_id)

    @reverse_payment.validator
    def _validate_reverse(self, request: ReversePayment) -> None:
        self._belongs_to_this_user(request.user_id)

    @cancel.validator
    def _validate_cancel(self, request: CancelSubscription) -> None:
        self._belongs_to_this_user(request.user_id)

    def _belongs_to_this_user(self, user_id: int) -> None:
        if user_id != self._user_id:
            raise ValueError(f"request for user {user_id} sent to user {self._user_id}'s subscription")

    @workflow.query
    def view(self) -> SubscriptionView:
        return self._view("")

    async def _submit(self, request) -> SubscriptionView:
        key = str(workflow.uuid4())
        self._intents.append(_Intent(key, request))
        await workflow.wait_condition(lambda: key in self._results)
        return self._results.pop(key)

    # --- the run loop's work -------------------------------------------------------------

    async def _apply_intent(self, request) -> SubscriptionView:
        if isinstance(request, ApplyPayment):
            return await self._apply(request)
        if isinstance(request, ReversePayment):
            return await self._reverse(request)
        return await self._cancel(request)

    async def _apply(self, request: ApplyPayment) -> SubscriptionView:
        payment_id = request.mercadopago_payment_id
        previous = self._ledger.period()
        bought = self._ledger.apply(payment_id, request.plan.id, request.plan.billing_cycle, request.approved_at)
        if bought is None:
            return self._view("DUPLICATE")
        # an extension when it chains onto time still running, an activation otherwise
        extended = previous is not None and previous.end > workflow.now() and bought.start == previous.end
        change = LedgerChange(
            mercadopago_payment_id=payment_id,
            plan_id=request.plan.id,
            period_start=bought.start,
            period_end=bought.end,
        )
        await self._persist(
            [change],
            "subscription.extended" if extended else "subscription.activated",
            payment_id,
            event_detail={"amount": str(request.plan.price), "currency": request.plan.currency},
        )
        return self._view("APPLIED")

    async def _reverse(self, request: ReversePayment) -> SubscriptionView:
        payment_id = request.mercadopago_payment_id
        entry = self._ledger.entries.get(payment_id)
        if entry is None or not self._ledger.reverse(payment_id):
            return self._view("NOTHING_TO_REVERSE")
        change = LedgerChange(
            mercadopago_payment_id=payment_id,
            plan_id=entry.plan_id,
            # the period is recorded at apply time; only the reversal is new here
            period_start=entry.approved_at,
            period_end=entry.approved_at,
            reversed_at=workflow.now(),
        )
        await self._persist(
            [change],
            "subscription.revoked",
            payment_id,
            {"reason": str(request.reason)},
            event_detail={"reason": str(request.reason)},
        )
        return self._view("REVERSED")

    async def _cancel(self, request: CancelSubscription) -> SubscriptionView:
        if self._status() == SubscriptionStatus.CANCELLED:
            return self._view("CANCELLED")
        self._ledger.cancel()
        await self._persist(
            [],
            "subscription.cancelled",
            None,
            {"requestedBy": request.requested_by},
            event_detail={"requestedBy": request.requested_by},
        )
        return self._view("CANCELLED")

    async def _expire_if_due(self) -> None:
        status = self._status()
        if status == SubscriptionStatus.EXPIRED and self._persisted_status == SubscriptionStatus.ACTIVE:
            await self._persist([], "subscription.expired", None)

    # --- renewal reminders ---------------------------------------------------------------

    def _sends_renewal_reminders(self) -> bool:
        # runs started before reminders existed keep their recorded commands (no extra timer)
        return workflow.patched(patches.RENEWAL_DUE.id) and self._renewal_lead_seconds > 0

    def _reminder_at(self) -> datetime | None:
        """When this period's subscription.renewal_due is due; None once sent, or when not active."""
        period = self._ledger.period()
        if period is None or self._status() != SubscriptionStatus.ACTIVE or self._renewal_reminded_for == period.end:
            return None
        return period.end - timedelta(seconds=self._renewal_lead_seconds)

    async def _remind_if_due(self) -> None:
        due = self._reminder_at()
        if due is None or due > workflow.now():
            return
        period = self._ledger.period()
        assert period is not None  # a reminder is due only within a period
        self._renewal_reminded_for = period.end  # once per period end
        await self._persist([], "subscription.renewal_due", None)

    def _next_wake(self) -> timedelta | None:
        """Sleep until the paid time ends or, before that, until the renewal reminder is due."""
        time_left = self._time_left()
        if not self._sends_renewal_reminders():
            return time_left
        due = self._reminder_at()
        if due is None or due <= workflow.now():
            return time_left
        until_due = due - workflow.now()
        return until_due if time_left is None else min(until_due, time_left)

    async def _persist(
        self,
        ledger: list[LedgerChange],
        action: str,
        payment_id: str | None,
        detail: dict[str, str] | None = None,
        event_detail: dict[str, str] | None = None,
    ) -> None:
        self._version += 1
        self._changes_this_run += 1
        period = self._ledger.period()
        status = self._status()
        plan_id = period.plan_id if period else self._last_plan_id()
        audit = AuditRecord(
            dedup_key=f"{workflow.info().workflow_id}:v{self._version}:{action}",
            actor=workflow.info().workflow_id,
            action=action,
            user_id=self._user_id,
            mercadopago_payment_id=payment_id,
            detail={"status": str(status), **(detail or {})},
        )
        # one write for the change and its audit record: one activity, one transaction
        audit_with_change = workflow.patched(patches.SUBSCRIPTION_AUDIT_IN_THE_SAME_WRITE.id)
        record = SubscriptionRecord(
            user_id=self._user_id,
            plan_id=plan_id,
            status=status,
            start_date=period.start if period else None,
            end_date=period.end if period else self._last_end(),
            version=self._version,
            ledger=ledger,
            # the outbox event of this change, recorded with it in one transaction
            event=action,
            event_detail={**({"mercadopagoPaymentId": payment_id} if payment_id else {}), **(event_detail or {})},
            audit=audit if audit_with_change else None,
        )
        self._subscription_id = await self._write("store.save_subscription", record, int)
        self._persisted_status = status
        if not audit_with_change:
            await self._write("store.record_audit", audit)

    async def _write(self, activity: str, record, result_type: type | None = None):
        """Persist a decision. A local activity writes before Temporal records the step that
        decided it, so a worker lost in between let the rerun (which may take intents in another
        order) find the database already holding other answers. As a scheduled activity the
        write happens only once its step is recorded."""
        if workflow.patched(patches.SUBSCRIPTION_WRITES_AFTER_THE_DECISION.id):
            return await workflow.execute_activity(activity, record, result_type=result_type, **options.STORE)
        return await workflow.execute_local_activity(activity, record, result_type=result_type, **options.STORE)

    # --- derived state -------------------------------------------------------------------

    def _status(self) -> SubscriptionStatus:
        return status_at(self._ledger.period(), workflow.now(), self._ledger.cancelled)

    def _time_left(self):
        period = self._ledger.period()
        if period is None or period.end <= workflow.now():
            return None  # nothing to expire: sleep until the next intent
        return period.end - workflow.now()

    def _last_plan_id(self) -> int:
        entries = sorted(self._ledger.entries.values(), key=lambda e: e.applied_seq)
        return entries[-1].plan_id if entries else 0

    def _last_end(self) -> datetime | None:
        """After a cancel or a lapse, keep showing when access ended."""
        return workflow.now() if self._ledger.entries else None

    def _view(self, outcome: str) -> SubscriptionView:
        period = self._ledger.period()
        return SubscriptionView(
            user_id=self._user_id,
            subscription_id=self._subscription_id,
            plan_id=period.plan_id if period else (self._last_plan_id() or None),
            status=self._status(),
            start_date=period.start if period else None,
            end_date=period.end if period else None,
            outcome=outcome,
        )

    def _should_continue_as_new(self) -> bool:
        return self._changes_this_run >= self._continue_as_new_after or workflow.info().is_continue_as_new_suggested()

    def _carry_over(self) -> SubscriptionInput:
        return SubscriptionInput(
            user_id=self._user_id,
            continue_as_new_after=self._continue_as_new_after,
            renewal_reminder_lead_seconds=self._renewal_lead_seconds,
            state=SubscriptionState(
                **saved_ledger(self._ledger),
                version=self._version,
                subscription_id=self._subscription_id,
                status=self._persisted_status,
                renewal_reminded_for=self._renewal_reminded_for,
            ),
        )


def restore_ledger(state: SubscriptionState) -> Ledger:
    """The ledger a run carried over to the next (continue-as-new)."""
    return Ledger(
        # copies: the ledger changes its entries, the input it came from stays as it was
        entries={e.mercadopago_payment_id: replace(e) for e in state.entries},
        next_seq=state.next_seq,
        cancelled_after_seq=state.cancelled_after_seq,
    )


def saved_ledger(ledger: Ledger) -> dict:
    """The SubscriptionState fields that carry the ledger over to the next run."""
    return {
        "entries": [replace(e) for e in ledger.entries.values()],
        "next_seq": ledger.next_seq,
        "cancelled_after_seq": ledger.cancelled_after_seq,
    }
