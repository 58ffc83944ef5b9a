"""The subscription's paid time, derived from its ledger.

Every applied payment buys one billing period. A period starts at the later of the
payment's approval and the end of the period before it, so back-to-back payments
chain and a payment after a lapse starts afresh. Reversed payments (refund,
charge-back) buy nothing; cancelling closes everything applied before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.plans import billing_period
from domain.statuses import SubscriptionStatus


@dataclass
class LedgerEntry:
    mercadopago_payment_id: str
    plan_id: int
    billing_cycle: str
    approved_at: datetime
    applied_seq: int
    reversed: bool = False


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    plan_id: int


def current_period(entries: list[LedgerEntry], cancelled_after_seq: int = -1) -> Period | None:
    """The paid period from the entries applied after the last cancellation, not reversed."""
    live = sorted(
        (e for e in entries if not e.reversed and e.applied_seq > cancelled_after_seq),
        key=lambda e: e.applied_seq,
    )
    start: datetime | None = None
    end: datetime | None = None
    plan_id = 0
    for entry in live:
        begins = period_start(entry.approved_at, end)
        if end is None or begins > end:
            start = begins  # a lapse: the subscription starts over
        end = billing_period(entry.billing_cycle).after(begins)
        plan_id = entry.plan_id
    if start is None or end is None:
        return None
    return Period(start=start, end=end, plan_id=plan_id)


def period_start(approved_at: datetime, previous_end: datetime | None) -> datetime:
    """A payment's period starts at its approval, or where the period before it ends when that
    is later: back-to-back payments chain, a payment after a lapse starts afresh."""
    return approved_at if previous_end is None else max(approved_at, previous_end)


def status_at(period: Period | None, now: datetime, cancelled: bool) -> SubscriptionStatus:
    if period is not None and period.end > now:
        return SubscriptionStatus.ACTIVE
    if cancelled and period is None:
        return SubscriptionStatus.CANCELLED
    return SubscriptionStatus.EXPIRED


@dataclass
class Ledger:
    """All payments ever applied to one user's subscription, keyed by MercadoPago id."""

    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    next_seq: int = 0
    cancelled_after_seq: int = -1

    def has(self, mercadopago_payment_id: str) -> bool:
        return mercadopago_payment_id in self.entries

    def apply(
        self, mercadopago_payment_id: str, plan_id: int, billing_cycle: str, approved_at: datetime
    ) -> Period | None:
        """Record a payment once: the period it bought, or None when it was already recorded."""
        if mercadopago_payment_id in self.entries:
            return None
        previous = self.period()
        begins = period_start(approved_at, previous.end if previous else None)
        self.entries[mercadopago_payment_id] = LedgerEntry(
            mercadopago_payment_id, plan_id, billing_cycle, approved_at, self.next_seq
        )
        self.next_seq += 1
        return Period(start=begins, end=billing_period(billing_cycle).after(begins), plan_id=plan_id)

    def reverse(self, mercadopago_payment_id: str) -> bool:
        """Take back what a payment bought; False when there was nothing to take back."""
        entry = self.entries.get(mercadopago_payment_id)
        if entry is None or entry.reversed:
            return False
        entry.reversed = True
        return True

    def cancel(self) -> None:
        self.cancelled_after_seq = self.next_seq - 1

    @property
    def cancelled(self) -> bool:
        return self.cancelled_after_seq >= 0 and not any(
            e.applied_seq > self.cancelled_after_seq for e in self.entries.values()
        )

    def period(self) -> Period | None:
        return current_period(list(self.entries.values()), self.cancelled_after_seq)
