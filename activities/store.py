"""The read model's writes and reads, as activities: one transaction per call.

Every write is an idempotent upsert keyed by a natural id (checkout id, MercadoPago payment id,
user id, audit dedup key), safe under Temporal retries and concurrent calls, on PostgreSQL and
SQLite alike. Statuses only move forward; a stale write never undoes a newer one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from domain.statuses import CheckoutStatus, PaymentStatus, merge_status
from store import emitters
from store.checkout_progress import advance_checkout
from store.models import AuditRow, CheckoutRow, LedgerRow, PaymentRow, PlanRow, SubscriptionRow, utcnow
from store.upsert import dialect_insert, insert_if_absent
from telemetry import business_metrics
from workflows.messages import (
    AuditRecord,
    CheckoutRecord,
    CheckoutRef,
    PaymentRecord,
    PlanSnapshot,
    StoredPayment,
    SubscriptionRecord,
)

T = TypeVar("T")

# Descriptive fields: the observation that wins the status merge overwrites them (never with
# null); a stale observation only fills the gaps.
_CHECKOUT_DETAILS = ("preference_id", "init_point", "sandbox_init_point", "mercadopago_payment_id")
_PAYMENT_DETAILS = ("amount", "currency", "status_detail", "external_reference", "payment_method", "payment_type")


def _merge_details(row, observed: dict, *, stale: bool) -> None:
    for field, value in observed.items():
        if value is not None and (not stale or getattr(row, field) is None):
            setattr(row, field, value)


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

    async def _announce(self, users: set[int]) -> None:
        if users and self._on_events is not None:
            await self._on_events(set(users))

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
        emitted: set[int] = set()

        async def work(session: AsyncSession) -> CheckoutStatus | None:
            emitted.clear()
            now = utcnow()
            # the insert comes first: it takes the write lock (SQLite) before anything is read
            inserted = await insert_if_absent(
                session,
                CheckoutRow,
                {
                    "checkout_id": record.checkout_id,
                    "external_reference": record.external_reference,
                    "user_id": record.user_id,
                    "plan_id": record.plan_id,
                    "amount": record.amount,
                    "currency": record.currency,
                    "status": record.status.value,
                    "created_at": record.created_at,
                    "updated_at": now,
                    **{field: getattr(record, field) for field in _CHECKOUT_DETAILS},
                },
                key=["checkout_id"],
            )
            if inserted is not None:
                if record.status == CheckoutStatus.EXPIRED:
                    created = await session.get(CheckoutRow, record.checkout_id)
                    assert created is not None  # inserted just now, in this transaction
                    await self._emit(emitted, emitters.checkout_status_changed(session, created, None, now))
                return None
            row = await session.scalar(
                select(CheckoutRow).where(CheckoutRow.checkout_id == record.checkout_id).with_for_update()
            )
            assert row is not None  # the insert above found it there
            previous = CheckoutStatus(row.status)
            status = advance_checkout(previous, record.status)
            _merge_details(
                row, {field: getattr(record, field) for field in _CHECKOUT_DETAILS}, stale=status != record.status
            )
            row.status = status.value
            row.updated_at = now
            await session.flush()
            await self._emit(emitted, emitters.checkout_status_changed(session, row, previous, now))
            return status if status != previous else None

        moved_to = await self._unit_of_work(work)
        if moved_to == CheckoutStatus.COMPLETED:  # once: a retry finds it COMPLETED already
            business_metrics.checkout_completed(record.created_at)
        await self._announce(emitted)

    @staticmethod
    async def _emit(emitted: set[int], emission: Awaitable[int | None]) -> None:
        user_id = await emission
        if user_id is not None:
            emitted.add(user_id)

    @activity.defn(name="store.find_checkout")
    async def find_checkout(self, external_reference: str) -> CheckoutRef | None:
        async with self._sessions() as session:
            row = await session.scalar(select(CheckoutRow).where(CheckoutRow.external_reference == external_reference))
        if row is None:
            return None
        return CheckoutRef(checkout_id=row.checkout_id, user_id=row.user_id, plan_id=row.plan_id)

    # --- plans -------------------------------------------------------------------------

    @activity.defn(name="store.get_plan")
    async def get_plan(self, plan_id: int) -> PlanSnapshot | None:
        async with self._sessions() as session:
            row = await session.get(PlanRow, plan_id)
        if row is None:
            return None
        return PlanSnapshot(
            id=row.id,
            code=row.code,
            name=row.name,
            price=row.price,
            currency=row.currency,
            billing_cycle=row.billing_cycle,
        )

    # --- payments ----------------------------------------------------------------------

    @activity.defn(name="store.save_payment")
    async def save_payment(self, record: PaymentRecord) -> StoredPayment:
        payment = record.payment
        details = {field: getattr(payment, field) for field in _PAYMENT_DETAILS}
        people = {"user_id": record.user_id, "plan_id": record.plan_id}
        emitted: set[int] = set()

        async def work(session: AsyncSession) -> StoredPayment:
            emitted.clear()
            now = utcnow()
            new_id = await insert_if_absent(
                session,
                PaymentRow,
                {
                    "mercadopago_payment_id": payment.mercadopago_payment_id,
                    "status": payment.status.value,
                    "amount_refunded": payment.amount_refunded,
                    "created_at": payment.created_at,
                    "approved_at": payment.approved_at,
                    "updated_at": now,
                    **details,
                    **people,
                },
                key=["mercadopago_payment_id"],
            )
            if new_id is not None:
                created = await session.get(PaymentRow, new_id)
                assert created is not None  # inserted just now, in this transaction
                await self._emit(emitted, emitters.payment_status_changed(session, created, None, now))
                return StoredPayment(payment_id=new_id, status=payment.status, changed=True)

            # FOR UPDATE: concurrent observations of one payment merge one after the other
            # (PostgreSQL; SQLite already holds the database's write lock since the insert)
            row = await session.scalar(
                select(PaymentRow)
                .where(PaymentRow.mercadopago_payment_id == payment.mercadopago_payment_id)
                .with_for_update()
            )
            assert row is not None  # the insert above found it there
            current = PaymentStatus(row.status)
            status = merge_status(current, payment.status)
            stale = status != payment.status
            _merge_details(row, details, stale=stale)
            _merge_details(row, people, stale=True)  # who paid for what never changes
            row.status = status.value
            row.amount_refunded = max(row.amount_refunded, payment.amount_refunded)
            row.approved_at = row.approved_at or payment.approved_at
            row.updated_at = now
            await session.flush()
            await self._emit(emitted, emitters.payment_status_changed(session, row, current, now))
            return StoredPayment(payment_id=row.id, status=status, changed=status != current)

        stored = await self._unit_of_work(work)
        business_metrics.payment_saved(stored.status, stored.changed, _caller_workflow_type())
        await self._announce(emitted)
        return stored

    # --- subscriptions -----------------------------------------------------------------

    @activity.defn(name="store.save_subscription")
    async def save_subscription(self, record: SubscriptionRecord) -> int:
        emitted: set[int] = set()
        audited: list[AuditRecord] = []  # new audit records, counted once committed

        async def work(session: AsyncSession) -> int:
            emitted.clear()
            now = utcnow()
            statement = dialect_insert(session, SubscriptionRow).values(
                user_id=record.user_id,
                plan_id=record.plan_id,
                status=record.status.value,
                start_date=record.start_date,
                end_date=record.end_date,
                auto_renew=False,
                version=record.version,
                created_at=now,
                updated_at=now,
            )
            excluded = statement.excluded
            applied = (
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["user_id"],
                        set_={
                            field: excluded[field]
                            for field in ("plan_id", "status", "start_date", "end_date", "version", "updated_at")
                        },
                        # the workflow's sequence decides: an older (reordered) write is ignored. The same
                        # version again is the workflow re-running a step whose worker died after writing:
                        # its answer is the one the history keeps, so it wins.
                        where=SubscriptionRow.version <= excluded.version,
                    ).returning(SubscriptionRow.id)
                )
            ).scalar_one_or_none() is not None
            subscription_id = await session.scalar(
                select(SubscriptionRow.id).where(SubscriptionRow.user_id == record.user_id)
            )
            assert subscription_id is not None  # the upsert above inserted or found it
            # Ledger entries are keyed by payment: a stale write adds what is missing and changes
            # nothing else; the winning write also sets the period its history computed.
            for change in record.ledger:
                if applied and change.reversed_at is None:
                    await session.execute(
                        update(LedgerRow)
                        .where(
                            LedgerRow.mercadopago_payment_id == change.mercadopago_payment_id,
                            LedgerRow.user_id == record.user_id,
                        )
                        .values(period_start=change.period_start, period_end=change.period_end)
                        .execution_options(synchronize_session=False)
                    )
                await insert_if_absent(
                    session,
                    LedgerRow,
                    {
                        "mercadopago_payment_id": change.mercadopago_payment_id,
                        "subscription_id": subscription_id,
                        "user_id": record.user_id,
                        "plan_id": change.plan_id,
                        "period_start": change.period_start,
                        "period_end": change.period_end,
                        "reversed_at": change.reversed_at,
                        "created_at": now,
                    },
                    key=["mercadopago_payment_id"],
                )
                if change.reversed_at is not None:
                    await session.execute(
                        update(LedgerRow)
                        .where(
                            LedgerRow.mercadopago_payment_id == change.mercadopago_payment_id,
                            LedgerRow.user_id == record.user_id,
                            LedgerRow.reversed_at.is_(None),
                        )
                        .values(reversed_at=change.reversed_at)
                        .execution_options(synchronize_session=False)
                    )
            if applied:  # a stale or retried write emits nothing, as it changes nothing
                await self._emit(emitted, emitters.subscription_changed(session, record, subscription_id, now))
            audited.clear()
            if record.audit is not None and await self._insert_audit(session, record.audit):
                audited.append(record.audit)
            return subscription_id

        subscription_id = await self._unit_of_work(work)
        await self._announce(emitted)
        for entry in audited:
            business_metrics.audited(entry.action, dict(entry.detail))
        return subscription_id

    # --- audit -------------------------------------------------------------------------

    @activity.defn(name="store.record_audit")
    async def record_audit(self, record: AuditRecord) -> None:
        # append-only: a retried activity finds its record already there and leaves it be
        async def work(session: AsyncSession) -> bool:
            return await self._insert_audit(session, record)

        if await self._unit_of_work(work):  # counted once, when the record is new
            business_metrics.audited(record.action, dict(record.detail))

    @staticmethod
    async def _insert_audit(session: AsyncSession, record: AuditRecord) -> bool:
        """Append the record unless its dedup key is there already; True when it is new."""
        return (
            await insert_if_absent(
                session,
                AuditRow,
                {
                    "dedup_key": record.dedup_key,
                    "occurred_at": utcnow(),
                    "actor": record.actor,
                    "action": record.action,
                    "user_id": record.user_id,
                    "mercadopago_payment_id": record.mercadopago_payment_id,
                    "external_reference": record.external_reference,
                    "detail": dict(record.detail),
                },
                key=["dedup_key"],
            )
            is not None
        )

    # --- reconciliation ----------------------------------------------------------------

    @activity.defn(name="store.payment_statuses")
    async def payment_statuses(self, mercadopago_payment_ids: list[str]) -> dict[str, PaymentStatus]:
        """What the read model holds for these payments (absent ids are missing from it)."""
        if not mercadopago_payment_ids:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(PaymentRow.mercadopago_payment_id, PaymentRow.status).where(
                    PaymentRow.mercadopago_payment_id.in_(mercadopago_payment_ids)
                )
            )
        return {payment_id: PaymentStatus(status) for payment_id, status in rows}

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
