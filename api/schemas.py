"""Request and response bodies, camelCase on the wire; money as decimal strings, times ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pydantic.alias_generators import to_camel

from store.models import CheckoutRow, PaymentRow, SubscriptionRow

_CENTS = Decimal("0.01")


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PlanOut(Body):
    id: int
    code: str
    name: str
    price: str
    currency: str
    billing_cycle: str


class CheckoutIn(Body):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    user_id: int = Field(gt=0, le=2**63 - 1)
    plan_id: int = Field(gt=0, le=2**31 - 1)


class CheckoutCreatedOut(Body):
    """The checkout workflow's answer (CheckoutCreated), read by attribute."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)

    checkout_id: str
    preference_id: str
    init_point: str
    sandbox_init_point: str
    external_reference: str
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, moment: datetime) -> datetime:
        # workflow.now() is aware UTC; a naive time from a read-model row is UTC too
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CheckoutOut(Body):
    checkout_id: str
    status: str
    external_reference: str
    payment_id: int | None = None

    @classmethod
    def of(cls, row: CheckoutRow, payment_id: int | None) -> CheckoutOut:
        return cls(
            checkout_id=row.checkout_id,
            status=row.status,
            external_reference=row.external_reference,
            payment_id=payment_id,
        )


class PaymentOut(Body):
    payment_id: int
    mercadopago_payment_id: str
    user_id: int | None
    plan_id: int | None
    amount: Decimal
    currency: str
    status: str
    status_detail: str | None
    external_reference: str | None
    payment_method: str | None
    payment_type: str | None
    created_at: datetime
    approved_at: datetime | None

    @field_serializer("amount")
    def _money(self, amount: Decimal) -> str:
        return str(amount.quantize(_CENTS))

    @classmethod
    def of(cls, row: PaymentRow) -> PaymentOut:
        return cls(
            payment_id=row.id,
            mercadopago_payment_id=str(row.mercadopago_payment_id),
            user_id=row.user_id,
            plan_id=row.plan_id,
            amount=Decimal(row.amount),
            currency=row.currency,
            status=row.status,
            status_detail=row.status_detail,
            external_reference=row.external_reference,
            payment_method=row.payment_method,
            payment_type=row.payment_type,
            created_at=row.created_at,
            approved_at=row.approved_at,
        )


class SubscriptionOut(Body):
    subscription_id: int
    user_id: int
    plan_id: int
    status: str
    start_date: datetime | None
    end_date: datetime | None
    auto_renew: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: SubscriptionRow) -> SubscriptionOut:
        return cls(
            subscription_id=row.id,
            user_id=row.user_id,
            plan_id=row.plan_id,
            status=row.status,
            start_date=row.start_date,
            end_date=row.end_date,
            auto_renew=bool(row.auto_renew),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CancelledOut(Body):
    subscription_id: int
    status: str
    message: str


class WebhookOut(Body):
    status: str
    payment_id: str | None = None
    message: str
