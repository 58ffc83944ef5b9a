"""What paysaga sends to and reads from MercadoPago: the gateway activities' inputs and results.

Pure pydantic models (no SDK, no I/O), so workflows, activities and the read model share them.
Payer personal data never travels here: only MercadoPago ids, statuses and amounts.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.plans import Plan
from domain.statuses import PaymentStatus


class GatewayMessage(BaseModel):
    model_config = ConfigDict(frozen=True)


class CreatePreferenceInput(GatewayMessage):
    checkout_id: str
    external_reference: str
    user_id: int
    plan: Plan
    idempotency_key: str


class PreferenceCreated(GatewayMessage):
    preference_id: str
    init_point: str
    sandbox_init_point: str


class PaymentSnapshot(GatewayMessage):
    mercadopago_payment_id: str
    status: PaymentStatus
    status_detail: str | None = None
    external_reference: str | None = None
    amount: Decimal
    amount_refunded: Decimal = Decimal("0")
    currency: str
    payment_method: str | None = None
    payment_type: str | None = None
    created_at: datetime
    approved_at: datetime | None = None


class RefundInput(GatewayMessage):
    mercadopago_payment_id: str
    idempotency_key: str


class RefundResult(GatewayMessage):
    refund_id: str
    amount: Decimal


class PaymentWindow(GatewayMessage):
    begin: datetime
    end: datetime


class PaymentPageRequest(GatewayMessage):
    begin: datetime
    end: datetime
    offset: int
    limit: int


class PaymentPage(GatewayMessage):
    payments: list[PaymentSnapshot]
    total: int  # what MercadoPago counts from `begin` to `end`
