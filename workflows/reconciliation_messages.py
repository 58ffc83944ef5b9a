"""What the reconciliation workflow takes, carries across continue-as-new and reports."""

from __future__ import annotations

from datetime import datetime

from workflows.message import Message


class ReconcileCursor(Message):
    """Where a reconciliation stands, carried across continue-as-new: the window's fixed end,
    the next page (`offset` payments already seen among those created at or after `begin`),
    and the running totals."""

    end: datetime
    begin: datetime
    offset: int = 0
    checked: int = 0
    drifted: int = 0
    drifted_sample: list[str] = []
    pages: int = 0


class ReconcileInput(Message):
    """Compare MercadoPago's payments of the last `window_hours` with the read model."""

    window_hours: int = 48
    page_size: int = 200  # payments per activity result: far below Temporal's payload limit
    cursor: ReconcileCursor | None = None  # None: a new run, from now back `window_hours`


class ReconcileReport(Message):
    checked: int
    # MercadoPago payment ids found out of step, and re-routed (the first ones of a large run;
    # every one is in the audit log)
    drifted: list[str] = []
    drifted_count: int | None = None


class PaymentHint(Message):
    """A drifted payment, handed to its payment workflow to be read back."""

    mercadopago_payment_id: str
    reason: str
