"""The sandbox's memory: preferences, payments, refunds, merchant orders, idempotency keys and the
log of delivery attempts. One re-entrant lock makes every operation atomic, whether it is called
from the server's event loop or from a test's thread; callers get copies, never live records."""

from __future__ import annotations

import copy
import itertools
import random
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from . import resources as mp
from .resources import MPError


def _ids(low: int, high: int) -> Callable[[], int]:
    """Increasing ids from a random base, so nothing comes to rely on a fixed number."""
    counter = itertools.count(random.randint(low, high))
    return lambda: next(counter)


def _not_found(what: str) -> MPError:
    return MPError(
        404, "not_found", f"{what} not found", [{"code": 2000, "description": f"{what} not found", "data": None}]
    )


_RELATIVE = re.compile(r"^NOW(?:-(\d+)(MINUTES?|HOURS?|DAYS?|WEEKS?|MONTHS?))?$", re.IGNORECASE)
_UNIT_DAYS = {"MINUTE": 1 / 1440, "HOUR": 1 / 24, "DAY": 1, "WEEK": 7, "MONTH": 30}


def _search_date(text: str) -> datetime:
    """begin_date/end_date: ISO dates or MercadoPago's NOW-30DAYS form."""
    match = _RELATIVE.match(text.strip())
    if match:
        days = int(match.group(1) or 0) * _UNIT_DAYS[(match.group(2) or "DAY").upper().rstrip("S")]
        return datetime.now(UTC) - timedelta(days=days)
    try:
        return mp.parse_date(text)
    except ValueError:
        raise mp.bad_request(f"invalid date: {text}") from None


class Store:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._new_payment_id = _ids(1_300_000_000, 1_399_000_000)
        self._new_refund_id = _ids(1_200_000_000, 1_290_000_000)
        self._new_order_id = _ids(5_300_000_000, 5_390_000_000)
        self._new_notification_id = _ids(110_000_000_000, 119_000_000_000)
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._preferences: dict[str, dict] = {}
            self._payments: dict[int, dict] = {}
            self._payment_preference: dict[int, str] = {}
            self._preference_order: dict[str, str] = {}  # one merchant order per preference
            self._order_preference: dict[str, str] = {}
            self._idempotency: dict[tuple[str, str], tuple[int, Any]] = {}
            self._deliveries: list[dict] = []

    # -- idempotency ------------------------------------------------------------------------
    def idempotent(self, scope: str, key: str | None, produce: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
        """Answer a replayed X-Idempotency-Key on the same route with the first answer. The lock
        is held through `produce`, so two concurrent calls with one key create one object."""
        with self._lock:
            if key and (scope, key) in self._idempotency:
                return copy.deepcopy(self._idempotency[(scope, key)])
            status, body = produce()
            if key and 200 <= status < 300:
                self._idempotency[(scope, key)] = (status, copy.deepcopy(body))
            return status, body

    # -- preferences --------------------------------------------------------------------------
    def add_preference(self, pref: dict) -> dict:
        with self._lock:
            self._preferences[pref["id"]] = pref
            return copy.deepcopy(pref)

    def preference(self, pref_id: str) -> dict:
        with self._lock:
            if pref_id not in self._preferences:
                raise MPError(404, "not_found", f"The preference with identifier {pref_id} does not exist")
            return copy.deepcopy(self._preferences[pref_id])

    # -- payments -----------------------------------------------------------------------------
    def create_payment(
        self,
        pref_id: str,
        status: str,
        status_detail: str | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
    ) -> dict:
        """A buyer paid a preference (Checkout Pro groups a preference's payments in one merchant order)."""
        if status not in mp.PAYMENT_STATUSES:
            raise mp.bad_request(f"unknown status {status}")
        with self._lock:
            pref = self._preferences.get(pref_id)
            if pref is None:
                raise MPError(404, "not_found", f"The preference with identifier {pref_id} does not exist")
            order_id = self._preference_order.get(pref_id)
            if order_id is None:
                order_id = self._preference_order[pref_id] = str(self._new_order_id())
                self._order_preference[order_id] = pref_id
            payment = mp.build_payment(
                pref,
                self._new_payment_id(),
                order_id,
                status,
                status_detail,
                mp.preference_total(pref) if amount is None else amount,
                currency or pref["items"][0]["currency_id"],
            )
            self._payments[payment["id"]] = payment
            self._payment_preference[payment["id"]] = pref_id
            return copy.deepcopy(payment)

    def seed_payments(self, count: int, status: str, spread_hours: float, external_reference: str | None) -> list[int]:
        """`count` payments of one seeded preference, created evenly over the last `spread_hours`
        (oldest first), no notification sent."""
        if status not in mp.PAYMENT_STATUSES:
            raise mp.bad_request(f"unknown status {status}")
        body = {
            "items": [{"title": "Seeded payment", "quantity": 1, "unit_price": 10, "currency_id": "ARS"}],
            "external_reference": external_reference or "",
        }
        pref = mp.build_preference(body, 0, "http://sandbox.invalid", "MLA")
        now = datetime.now(mp.MP_TZ)
        step = timedelta(hours=spread_hours) / count
        with self._lock:
            self._preferences[pref["id"]] = pref
            ids = []
            for index in range(count):
                payment = self.create_payment(pref["id"], status)
                stamp = (now - step * (count - index)).isoformat(timespec="milliseconds")
                payment = self._payments[payment["id"]]
                payment["date_created"] = payment["date_last_updated"] = stamp
                if payment["date_approved"]:
                    payment["date_approved"] = payment["money_release_date"] = stamp
                ids.append(payment["id"])
            return ids

    def _payment(self, payment_id: int | str) -> dict:
        try:
            return self._payments[int(payment_id)]
        except (KeyError, ValueError):
            raise _not_found("Payment") from None

    def payment(self, payment_id: int | str) -> dict:
        with self._lock:
            return copy.deepcopy(self._payment(payment_id))

    def payment_preference(self, payment_id: int) -> dict:
        with self._lock:
            return copy.deepcopy(self._preferences[self._payment_preference[int(payment_id)]])

    def set_payment_status(self, payment_id: int | str, status: str, status_detail: str | None = None) -> dict:
        """Operator/test-driven move. `refunded` books a refund of what is left, as MercadoPago
        shows one when the seller refunds from its dashboard."""
        if status not in mp.PAYMENT_STATUSES:
            raise mp.bad_request(f"unknown status {status}")
        with self._lock:
            payment = self._payment(payment_id)
            left = payment["transaction_amount"] - payment["transaction_amount_refunded"]
            if status == "refunded" and left > 0:
                mp.apply_refund(payment, mp.build_refund(self._new_refund_id(), payment, left))
            mp.set_status(payment, status, status_detail)
            return copy.deepcopy(payment)

    def cancel_payment(self, payment_id: int | str) -> dict:
        """PUT /v1/payments/{id} {"status": "cancelled"}: only what is not yet approved."""
        with self._lock:
            payment = self._payment(payment_id)
            if payment["status"] not in ("pending", "in_process", "authorized"):
                raise mp.bad_request(f"Payment in status {payment['status']} cannot be cancelled")
            mp.set_status(payment, "cancelled", "by_collector")
            return copy.deepcopy(payment)

    def search_payments(self, params: dict[str, str]) -> dict:
        with self._lock:
            found = [copy.deepcopy(p) for p in self._payments.values()]
        for field in ("external_reference", "status", "id", "status_detail", "currency_id"):
            if params.get(field):
                found = [p for p in found if str(p.get(field)) == params[field]]
        date_field = params.get("range") or "date_created"
        if date_field not in ("date_created", "date_approved", "date_last_updated", "money_release_date"):
            raise mp.bad_request(f"invalid range {date_field}")
        for bound, keep in (("begin_date", lambda d, b: d >= b), ("end_date", lambda d, b: d <= b)):
            if params.get(bound):
                moment = _search_date(params[bound])
                found = [p for p in found if p.get(date_field) and keep(mp.parse_date(p[date_field]), moment)]
        sort = params.get("sort") or "date_created"
        if sort not in ("id", "date_created", "date_approved", "date_last_updated", "money_release_date"):
            raise mp.bad_request(f"invalid sort {sort}")
        # ids increase with creation, so they break ties between equal timestamps
        found.sort(
            key=lambda p: (p.get(sort) or "", p["id"]) if sort != "id" else p["id"],
            reverse=(params.get("criteria") or "desc").lower() == "desc",
        )
        try:
            limit, offset = int(params.get("limit") or 30), int(params.get("offset") or 0)
        except ValueError:
            raise mp.bad_request("limit and offset must be integers") from None
        if not (0 < limit <= 1000) or offset < 0:
            raise mp.bad_request("limit must be 1..1000 and offset >= 0")
        return {
            "paging": {"total": len(found), "limit": limit, "offset": offset},
            "results": found[offset : offset + limit],
        }

    # -- refunds ------------------------------------------------------------------------------
    def refund(self, payment_id: int | str, amount: Decimal | None) -> dict:
        with self._lock:
            payment = self._payment(payment_id)
            if payment["status"] != "approved":
                raise mp.bad_request(f"Invalid payment status: {payment['status']}", 2063)
            left = payment["transaction_amount"] - payment["transaction_amount_refunded"]
            amount = left if amount is None else amount
            if amount <= 0 or amount > left:
                raise mp.bad_request(f"Invalid refund amount: {amount} (refundable {left})", 2085)
            refund = mp.build_refund(self._new_refund_id(), payment, amount)
            mp.apply_refund(payment, refund)
            return copy.deepcopy(refund)

    def refunds(self, payment_id: int | str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._payment(payment_id)["refunds"])

    # -- merchant orders ----------------------------------------------------------------------
    def merchant_order(self, order_id: str) -> dict:
        with self._lock:
            pref_id = self._order_preference.get(str(order_id))
            if pref_id is None:
                raise _not_found("Merchant order")
            payments = [p for pid, p in self._payments.items() if self._payment_preference[pid] == pref_id]
            return copy.deepcopy(mp.build_merchant_order(str(order_id), self._preferences[pref_id], payments))

    # -- notifications ------------------------------------------------------------------------
    def new_notification_id(self) -> int:
        with self._lock:
            return self._new_notification_id()

    def record_delivery(self, attempt: dict) -> None:
        with self._lock:
            self._deliveries.append(dict(attempt))

    def deliveries(self, payment_id: int | None = None, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [
                dict(d)
                for d in self._deliveries
                if (payment_id is None or d["payment_id"] == payment_id) and (kind is None or d["kind"] == kind)
            ]
