"""The read model's rows as they travel between workflows, activities and store/.

Plain pydantic records: no SQLAlchemy, nothing else from store/. Workflows build them, the
store activities hand them to the functions of store/ that write them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.gateway import PaymentSnapshot
from domain.statuses import CheckoutStatus, PaymentStatus, SubscriptionStatus


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class CheckoutRecord(Record):
    checkout_id: str
    external_reference: str
    user_id: int
    plan_id: int
    amount: Decimal
    currency: str
    status: CheckoutStatus
    created_at: datetime
    preference_id: str | None = None
    init_point: str | None = None
    sandbox_init_point: str | None = None
    mercadopago_payment_id: str | None = None


class CheckoutRef(Record):
    checkout_id: str
    user_id: int
    plan_id: int


class PaymentRecord(Record):
    payment: PaymentSnapshot
    user_id: int | None
    plan_id: int | None


class StoredPayment(Record):
    payment_id: int
    status: PaymentStatus  # after the monotonic merge
    changed: bool


class AuditRecord(Record):
    dedup_key: str
    actor: str
    action: str
    user_id: int | None = None
    mercadopago_payment_id: str | None = None
    external_reference: str | None = None
    detail: dict[str, str] = {}


class LedgerChange(Record):
    mercadopago_payment_id: str
    plan_id: int
    period_start: datetime
    period_end: datetime
    reversed_at: datetime | None = None


class SubscriptionRecord(Record):
    user_id: int
    plan_id: int
    status: SubscriptionStatus
    start_date: datetime | None
    end_date: datetime | None
    version: int
    ledger: list[LedgerChange] = []
    # the subscription.* event this change is, emitted with it (once: the version guards both)
    event: str | None = None
    event_detail: dict[str, str] = {}
    # the audit record of this change, written in the same transaction (one activity, not two)
    audit: AuditRecord | None = None
