"""SQLAlchemy models of the read model. Natural keys are unique so every write can be an upsert."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Money(TypeDecorator):
    """Exact decimal money: NUMERIC(18,2) on PostgreSQL; text on SQLite, whose NUMERIC is a float."""

    impl = Numeric(18, 2)
    cache_ok = True
    _CENTS = Decimal("0.01")

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 2))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money is Decimal, never float")
        exact = Decimal(value).quantize(self._CENTS)
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


MONEY = Money()
# SQLite has no BIGINT autoincrement: an INTEGER primary key is its rowid.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on PostgreSQL and on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every time is timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    billing_cycle: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CheckoutRow(Base):
    """One Checkout Pro preference and where its checkout saga stands."""

    __tablename__ = "payment_preferences"

    checkout_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_reference: Mapped[str] = mapped_column(String(128), unique=True)
    preference_id: Mapped[str | None] = mapped_column(String(128))
    init_point: Mapped[str | None] = mapped_column(Text)
    sandbox_init_point: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(BIG_ID, index=True)
    plan_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    mercadopago_payment_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    mercadopago_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(BIG_ID)
    plan_id: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    amount_refunded: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    status_detail: Mapped[str | None] = mapped_column(String(128))
    external_reference: Mapped[str | None] = mapped_column(String(128), index=True)
    payment_method: Mapped[str | None] = mapped_column(String(64))
    payment_type: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_payments_user_created", "user_id", "created_at"),)


class SubscriptionRow(Base):
    """The one current subscription of a user, as its workflow last persisted it."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BIG_ID, unique=True)
    plan_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    auto_renew: Mapped[bool] = mapped_column(default=False)
    # the workflow's own sequence: a stale write (older version) never overwrites a newer one
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerRow(Base):
    """Proof that a payment was applied once (unique MercadoPago payment id)."""

    __tablename__ = "subscription_ledger"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    mercadopago_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    user_id: Mapped[int] = mapped_column(BIG_ID)
    plan_id: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookEventRow(Base):
    """The inbox: every delivery that reached the webhook, valid or not (no secrets kept)."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    topic: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    signature_valid: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """Append-only trail of what the sagas decided and did."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    # one audit record per (actor, action, key): a retried activity does not write it twice
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(BIG_ID, index=True)
    mercadopago_payment_id: Mapped[str | None] = mapped_column(String(64))
    external_reference: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class EventRow(Base):
    """The outbox: events for other systems, written in the transaction of the change they describe.

    `id` is the delivery order (and the `after=` cursor of `GET /api/events`): every writer takes
    one lock just before inserting, so ids become visible in increasing order. `event_key` names
    the change, so recording it twice emits nothing.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BIG_ID)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    delivery_status: Mapped[str] = mapped_column(String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_events_user_id_id", "user_id", "id"),
        Index("ix_events_delivery_status", "delivery_status"),
        # SQLite: never reuse an id, even the highest one's (ids are a public cursor)
        {"sqlite_autoincrement": True},
    )
