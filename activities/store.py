"""The read model's writes and reads, as activities: one transaction per call, then a notification.

Each activity runs one function of store/ in a transaction and, once it committed, tells the
rest of the worker what that function says it did: metrics, and a wake-up for the delivery of
new events. Every write is an idempotent upsert keyed by a natural id (checkout id, MercadoPago
payment id, user id, audit dedup key), safe under Temporal retries and concurrent calls, on
PostgreSQL and SQLite alike. Statuses only move forward; a stale write never undoes a newer one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.plans import Plan
from domain.statuses import CheckoutStatus, PaymentStatus
from store import checkouts, payments, plans, subscriptions
from store.audit import append_audit
from store.models import utcnow
from store.records import AuditRecord, CheckoutRecord, CheckoutRef, PaymentRecord, StoredPayment, SubscriptionRecord
from telemetry import business_metrics

T = TypeVar("T")


def _caller_workflow_type() -> str | None:
    return activity.info().workflow_type if activity.in_activity() else None


class StoreActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_events: Callable[[set[int]], Awaitable[object]] | None = None,
    ) -> None:
        self._sessions = sessions
        # told, after commit, which users got new events (kicks their delivery; never fails)
        self._on_events = on_events

    async def _announce(self, event_user: int | None) -> None:
        if event_user is not None and self._on_events is not None:
            await self._on_events({event_user})

    async def _unit_of_work(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in one transaction. Upserts do not raise on their own key; should a
        concurrent writer still win a unique-key race, the second attempt sees its row."""
        for attempt in (1, 2):
            try:
                async with self._sessions() as session, session.begin():
                    return await work(session)
            except IntegrityError:
                if attempt == 2:
                    raise
                activity.logger.info("unique-key race lost to a concurrent write; retrying once")
        raise AssertionError("unreachable")

    # --- checkouts ---------------------------------------------------------------------

    @activity.defn(name="store.save_checkout")
    async def save_checkout(self, record: CheckoutRecord) -> None:
        saved = await self._unit_of_work(lambda session: checkouts.save_checkout(session, record=record, now=utcnow()))
        if saved.moved and saved.status == CheckoutStatus.COMPLETED:  # once: a retry finds it COMPLETED
            business_metrics.checkout_completed(record.created_at)
        await self._announce(saved.event_user)

    @activity.defn(name="store.find_checkout")
    async def find_checkout(self, external_reference: str) -> CheckoutRef | None:
        async with self._sessions() as session:
            return await checkouts.find_checkout(session, external_reference=external_reference)

    # --- plans -------------------------------------------------------------------------

    @activity.defn(name="store.get_plan")
    async def get_plan(self, plan_id: int) -> Plan | None:
        async with self._sessions() as session:
            return await plans.find_plan(session, plan_id=plan_id)

    # --- payments ----------------------------------------------------------------------

    @activity.defn(name="store.save_payment")
    async def save_payment(self, record: PaymentRecord) -> StoredPayment:
        saved = await self._unit_of_work(lambda session: payments.save_payment(session, record=record, now=utcnow()))
        business_metrics.payment_saved(saved.status, saved.changed, _caller_workflow_type())
        await self._announce(saved.event_user)
        return StoredPayment(payment_id=saved.payment_id, status=saved.status, changed=saved.changed)

    # --- subscriptions -----------------------------------------------------------------

    @activity.defn(name="store.save_subscription")
    async def save_subscription(self, record: SubscriptionRecord) -> int:
        saved = await self._unit_of_work(
            lambda session: subscriptions.save_subscription(session, record=record, now=utcnow())
        )
        await self._announce(saved.event_user)
        if saved.audited is not None:  # counted once, when the record is new
            business_metrics.audited(saved.audited.action, dict(saved.audited.detail))
        return saved.subscription_id

    # --- audit -------------------------------------------------------------------------

    @activity.defn(name="store.record_audit")
    async def record_audit(self, record: AuditRecord) -> None:
        # append-only: a retried activity finds its record already there and leaves it be
        if await self._unit_of_work(lambda session: append_audit(session, record=record, occurred_at=utcnow())):
            business_metrics.audited(record.action, dict(record.detail))

    # --- reconciliation ----------------------------------------------------------------

    @activity.defn(name="store.payment_statuses")
    async def payment_statuses(self, mercadopago_payment_ids: list[str]) -> dict[str, PaymentStatus]:
        """What the read model holds for these payments (absent ids are missing from it)."""
        async with self._sessions() as session:
            return await payments.payment_statuses(session, mercadopago_payment_ids=mercadopago_payment_ids)

    def all(self) -> list:
        """Every activity of this class, for the worker's `activities=` list."""
        return [
            self.save_checkout,
            self.find_checkout,
            self.get_plan,
            self.save_payment,
            self.save_subscription,
            self.record_audit,
            self.payment_statuses,
        ]
