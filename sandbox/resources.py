"""MercadoPago's objects as the API shows them: preferences, payments, refunds, merchant orders,
errors and dates. Pure functions over dicts; the store decides when they are called."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

# MercadoPago stamps its dates in Argentina's offset, with milliseconds.
MP_TZ = timezone(timedelta(hours=-4))

# The status_detail MercadoPago pairs with each status when nothing more specific is known.
DEFAULT_STATUS_DETAIL = {
    "approved": "accredited",
    "pending": "pending_waiting_payment",
    "in_process": "pending_review_manual",
    "authorized": "pending_capture",
    "in_mediation": "in_mediation",
    "rejected": "cc_rejected_other_reason",
    "cancelled": "by_collector",
    "refunded": "refunded",
    "charged_back": "settled",
}
PAYMENT_STATUSES = frozenset(DEFAULT_STATUS_DETAIL)


class MPError(Exception):
    """An error answered in MercadoPago's shape: {"message", "error", "status", "cause"}."""

    def __init__(self, status: int, error: str, message: str, cause: list | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.cause = status, error, message, cause or []

    def body(self) -> dict:
        return {"message": self.message, "error": self.error, "status": self.status, "cause": self.cause}


def bad_request(message: str, code: str | int = "invalid_parameter") -> MPError:
    return MPError(400, "bad_request", message, [{"code": code, "description": message, "data": None}])


def now_mp() -> str:
    return datetime.now(MP_TZ).isoformat(timespec="milliseconds")


def now_utc_z(timespec: str = "seconds") -> str:
    """Webhook bodies carry UTC dates ending in Z."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_date(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MP_TZ)


def to_amount(value: Any, field: str, *, strings: bool = False) -> Decimal:
    """A money amount from JSON, finite, never via float. MercadoPago's API takes JSON numbers
    only; `strings` also admits decimal strings (the control API's "9.99")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and strings:
        try:
            value = Decimal(value)
        except InvalidOperation:
            pass
    if not isinstance(value, Decimal) or not value.is_finite():
        raise bad_request(f"{field} must be a number")
    return value


def _quantity(value: Any, index: int) -> int:
    field = f"items[{index}].quantity"
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise bad_request(f"{field} must be an integer")
    if value != int(value) or int(value) < 1:
        raise bad_request(f"{field} must be a positive integer", "invalid_items")
    return int(value)


def build_preference(body: Any, collector_id: int, public_url: str, site_id: str) -> dict:
    """Validate a POST /checkout/preferences body and return the stored preference."""
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise bad_request("items needed", "invalid_items")
    out_items, currencies = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(f"items[{i}] must be an object", "invalid_items")
        price = to_amount(item.get("unit_price"), f"items[{i}].unit_price")
        if price <= 0:
            raise bad_request(f"items[{i}].unit_price must be positive", "invalid_items")
        currency = item.get("currency_id") or "ARS"
        currencies.add(currency)
        out_items.append(
            {
                "id": str(item.get("id", "")),
                "title": str(item.get("title", "")),
                "description": str(item.get("description", "")),
                "category_id": item.get("category_id", ""),
                "picture_url": item.get("picture_url", ""),
                "currency_id": currency,
                "quantity": _quantity(item.get("quantity", 1), i),
                "unit_price": price,
            }
        )
    if len(currencies) > 1:
        raise bad_request("currency_id must be the same for all items", "invalid_items")
    back_urls = body.get("back_urls") or {}
    if not isinstance(back_urls, dict):
        raise bad_request("back_urls must be an object")
    if body.get("auto_return") and not back_urls.get("success"):
        raise bad_request("auto_return invalid. back_url.success must be defined")

    pref_id = f"{collector_id}-{uuid.uuid4()}"
    link = f"{public_url}/checkout/v1/redirect?pref_id={pref_id}"
    payer = body.get("payer") or {}
    return {
        "id": pref_id,
        "init_point": link,
        "sandbox_init_point": link,
        "collector_id": collector_id,
        "client_id": str(collector_id),
        "date_created": now_mp(),
        "operation_type": "regular_payment",
        "site_id": site_id,
        "marketplace": "NONE",
        "items": out_items,
        "payer": payer,
        "back_urls": {k: back_urls.get(k, "") for k in ("success", "pending", "failure")},
        "auto_return": body.get("auto_return", ""),
        "external_reference": body.get("external_reference", ""),
        "metadata": body.get("metadata") or {},
        "notification_url": body.get("notification_url"),
        "statement_descriptor": body.get("statement_descriptor"),
        "additional_info": body.get("additional_info", ""),
        "expires": bool(body.get("expires", False)),
        "expiration_date_from": body.get("expiration_date_from"),
        "expiration_date_to": body.get("expiration_date_to"),
    }


def preference_total(pref: dict) -> Decimal:
    return sum((i["unit_price"] * i["quantity"] for i in pref["items"]), Decimal(0))


def preference_expired(pref: dict) -> bool:
    end = pref.get("expiration_date_to")
    return bool(pref.get("expires") and end and parse_date(end) < datetime.now(UTC))


def _payer(pref: dict, payment_id: int) -> dict:
    given = pref.get("payer") or {}
    return {
        "id": str(2_000_000_000 + payment_id % 1_000_000),  # a made-up test buyer
        "type": None,
        "email": given.get("email") or f"test_user_{payment_id % 100000}@testuser.com",
        "first_name": given.get("name") or given.get("first_name") or "Test",
        "last_name": given.get("surname") or given.get("last_name") or "Buyer",
        "identification": given.get("identification") or {"type": "DNI", "number": "12345678"},
    }


def build_payment(
    pref: dict, payment_id: int, order_id: str, status: str, status_detail: str | None, amount: Decimal, currency: str
) -> dict:
    stamp = now_mp()
    return {
        "id": payment_id,
        "status": status,
        "status_detail": status_detail or DEFAULT_STATUS_DETAIL[status],
        "external_reference": pref.get("external_reference") or None,
        "description": pref["items"][0]["title"],
        "transaction_amount": amount,
        "transaction_amount_refunded": Decimal(0),
        "transaction_details": {
            "net_received_amount": amount,
            "total_paid_amount": amount,
            "installment_amount": amount,
            "overpaid_amount": Decimal(0),
        },
        "currency_id": currency,
        "installments": 1,
        "payment_method_id": "master",
        "payment_type_id": "credit_card",
        "date_created": stamp,
        "date_approved": stamp if status == "approved" else None,
        "date_last_updated": stamp,
        "money_release_date": stamp if status == "approved" else None,
        "payer": _payer(pref, payment_id),
        "metadata": pref.get("metadata") or {},
        "refunds": [],
        "order": {"id": order_id, "type": "mercadopago"},
        "live_mode": False,
        "collector_id": pref["collector_id"],
        "operation_type": "regular_payment",
        "statement_descriptor": pref.get("statement_descriptor"),
        "captured": True,
        "binary_mode": False,
    }


def set_status(payment: dict, status: str, status_detail: str | None) -> None:
    """Move a payment as MercadoPago does: approval stamps date_approved once."""
    stamp = now_mp()
    payment["status"] = status
    payment["status_detail"] = status_detail or DEFAULT_STATUS_DETAIL[status]
    payment["date_last_updated"] = stamp
    if status == "approved" and not payment["date_approved"]:
        payment["date_approved"] = payment["money_release_date"] = stamp


def build_refund(refund_id: int, payment: dict, amount: Decimal) -> dict:
    return {
        "id": refund_id,
        "payment_id": payment["id"],
        "amount": amount,
        "amount_refunded_to_payer": amount,
        "adjustment_amount": Decimal(0),
        "metadata": {},
        "source": {"id": str(payment["collector_id"]), "name": "Seller", "type": "collector"},
        "date_created": now_mp(),
        "unique_sequence_number": None,
        "refund_mode": "standard",
        "status": "approved",
        "reason": None,
        "labels": [],
        "partition_details": [],
    }


def apply_refund(payment: dict, refund: dict) -> None:
    """Book a refund on its payment: fully refunded -> status refunded, else partially_refunded."""
    payment["refunds"].append(refund)
    payment["transaction_amount_refunded"] += refund["amount"]
    if payment["transaction_amount_refunded"] >= payment["transaction_amount"]:
        set_status(payment, "refunded", "refunded")
    else:
        set_status(payment, "approved", "partially_refunded")


def build_merchant_order(order_id: str, pref: dict, payments: list[dict]) -> dict:
    total = preference_total(pref)
    paid = sum(
        (p["transaction_amount"] - p["transaction_amount_refunded"] for p in payments if p["status"] == "approved"),
        Decimal(0),
    )
    return {
        "id": int(order_id),
        "status": "closed" if paid >= total else "opened",
        "order_status": "paid" if paid >= total else ("partially_paid" if paid else "payment_required"),
        "preference_id": pref["id"],
        "external_reference": pref.get("external_reference") or None,
        "collector": {"id": pref["collector_id"]},
        "total_amount": total,
        "paid_amount": paid,
        "items": pref["items"],
        "payments": [
            {
                "id": p["id"],
                "status": p["status"],
                "status_detail": p["status_detail"],
                "transaction_amount": p["transaction_amount"],
                "currency_id": p["currency_id"],
            }
            for p in payments
        ],
        "site_id": "MLA",
        "date_created": pref["date_created"],
        "last_updated": max((p["date_last_updated"] for p in payments), default=pref["date_created"]),
        "notification_url": pref.get("notification_url"),
    }
