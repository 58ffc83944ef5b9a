"""ReconciliationWorkflow: run daily by a Schedule, it catches what notifications missed.

MercadoPago's payments of the last window are compared with the read model; every payment
missing from it, or whose status there lags behind MercadoPago's, is audited as drift and
handed to its payment workflow, which reads it back and applies it like any notification.

The window is read page by page, one bounded activity result per page, oldest first. The
cursor moves `begin` to the last payment's creation time instead of growing the offset
(MercadoPago refuses deep offsets), and the run continues as new when its history grows,
carrying the cursor and the running totals. A completed run records its time, which the
`ReconciliationStale` alert watches; a run that gives up records a failure.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.gateway import PaymentPage, PaymentPageRequest, PaymentSnapshot, PaymentWindow
    from domain.statuses import PaymentStatus, merge_status
    from workflows import activity_options as options
    from workflows import patches
    from workflows.audit import audit
    from workflows.reconciliation_messages import PaymentHint, ReconcileCursor, ReconcileInput, ReconcileReport

SCHEDULE_ID = "paysaga-daily-reconciliation"

# pages per run before it continues as new (each page adds a few events per drifted payment)
_PAGES_PER_RUN = 10
# drifted ids named in the report; every one is in the audit log
_REPORTED_DRIFT = 100
# a page MercadoPago keeps failing to serve ends the run as failed (and alerted) after this
# long, rather than retrying while the schedule skips the next days
_PAGE_GIVES_UP_AFTER = timedelta(hours=2)
_PAGE: dict[str, Any] = dict(options.MERCADOPAGO, schedule_to_close_timeout=_PAGE_GIVES_UP_AFTER)
_RECORD: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
)


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileReport:
        if input.cursor is None and not workflow.patched(patches.RECONCILE_PAGE_BY_PAGE.id):
            return await self._whole_window(input)
        cursor = input.cursor
        if cursor is None:
            end = workflow.now()
            cursor = ReconcileCursor(end=end, begin=end - timedelta(hours=input.window_hours))
        try:
            return await self._pages(input, cursor)
        except ActivityError:
            await workflow.execute_local_activity("reconciliation.failed", **_RECORD)
            raise

    async def _pages(self, input: ReconcileInput, cursor: ReconcileCursor) -> ReconcileReport:
        pages_this_run = 0
        while True:
            page = await workflow.execute_activity(
                "mercadopago.search_payments_page",
                PaymentPageRequest(begin=cursor.begin, end=cursor.end, offset=cursor.offset, limit=input.page_size),
                result_type=PaymentPage,
                **_PAGE,
            )
            drifted = await self._compare(page.payments)
            cursor = _advance(cursor, page.payments, drifted)
            pages_this_run += 1
            if len(page.payments) < input.page_size:
                report = ReconcileReport(
                    checked=cursor.checked, drifted=cursor.drifted_sample, drifted_count=cursor.drifted
                )
                await workflow.execute_local_activity("reconciliation.succeeded", report, **_RECORD)
                return report
            if pages_this_run >= _PAGES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(input.model_copy(update={"cursor": cursor}))

    async def _compare(self, found: list[PaymentSnapshot]) -> list[str]:
        """Audit and re-route the payments of one page the read model lacks or lags behind."""
        if not found:
            return []
        stored = await workflow.execute_local_activity(
            "store.payment_statuses",
            [p.mercadopago_payment_id for p in found],
            result_type=dict[str, PaymentStatus],
            **options.STORE,
        )
        hints: list[PaymentHint] = []
        for payment in found:
            reason = _drift(stored.get(payment.mercadopago_payment_id), payment.status)
            if reason is None:
                continue
            await audit(
                "reconciliation.drift",
                None,
                payment.mercadopago_payment_id,
                payment.external_reference,
                {"drift": reason},
            )
            hints.append(PaymentHint(mercadopago_payment_id=payment.mercadopago_payment_id, reason=reason))
        if hints:
            await workflow.execute_activity("routing.hint_payments", hints, **options.SUBSCRIPTION)
        return [hint.mercadopago_payment_id for hint in hints]

    async def _whole_window(self, input: ReconcileInput) -> ReconcileReport:
        """Runs started before paging: the whole window in one activity result."""
        end = workflow.now()
        found = await workflow.execute_activity(
            "mercadopago.search_recent_payments",
            PaymentWindow(begin=end - timedelta(hours=input.window_hours), end=end),
            result_type=list[PaymentSnapshot],
            **options.MERCADOPAGO,
        )
        stored = await workflow.execute_local_activity(
            "store.payment_statuses",
            [p.mercadopago_payment_id for p in found],
            result_type=dict[str, PaymentStatus],
            **options.STORE,
        )
        drifted: list[str] = []
        for payment in found:
            reason = _drift(stored.get(payment.mercadopago_payment_id), payment.status)
            if reason is None:
                continue
            await audit(
                "reconciliation.drift",
                None,
                payment.mercadopago_payment_id,
                payment.external_reference,
                {"drift": reason},
            )
            await workflow.execute_activity(
                "routing.hint_payment",
                PaymentHint(mercadopago_payment_id=payment.mercadopago_payment_id, reason=reason),
                **options.SUBSCRIPTION,
            )
            drifted.append(payment.mercadopago_payment_id)
        return ReconcileReport(checked=len(found), drifted=drifted)


def _drift(ours: PaymentStatus | None, theirs: PaymentStatus) -> str | None:
    """Why the read model differs from MercadoPago, or None when it is in step (or ahead:
    statuses only move forward)."""
    if ours is None:
        return "missing"
    if merge_status(ours, theirs) == ours:
        return None
    return f"{ours}->{theirs}"


def _advance(cursor: ReconcileCursor, page: list[PaymentSnapshot], drifted: list[str]) -> ReconcileCursor:
    """The cursor after a page: `begin` moves to the page's last creation time, and `offset`
    counts the payments already seen at exactly that time (they come first from there on)."""
    totals = dict(
        checked=cursor.checked + len(page),
        drifted=cursor.drifted + len(drifted),
        drifted_sample=(cursor.drifted_sample + drifted)[:_REPORTED_DRIFT],
        pages=cursor.pages + 1,
    )
    if not page:
        return cursor.model_copy(update=totals)
    last = _to_the_millisecond(page[-1].created_at)
    if last == _to_the_millisecond(cursor.begin):
        offset = cursor.offset + len(page)  # the whole page shares the begin's time
    else:
        offset = sum(1 for p in page if _to_the_millisecond(p.created_at) == last)
    return cursor.model_copy(update=dict(totals, begin=last, offset=offset))


def _to_the_millisecond(moment):
    """Searches go by the millisecond (MercadoPago's date format): so does the cursor."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
