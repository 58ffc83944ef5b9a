"""How far a checkout has got: its status only moves forward.

AWAITING_PAYMENT < PAYMENT_PENDING / REJECTED < EXPIRED < COMPLETED < REFUNDED.
PAYMENT_PENDING and REJECTED may alternate: a rejected buyer may retry, and a pending payment may
be rejected. An expired checkout still completes when its payment turns up late (it is applied
all the same); a completed one never expires, and either may end up REFUNDED.
"""

from __future__ import annotations

from domain.statuses import CheckoutStatus

_STAGE = {
    CheckoutStatus.AWAITING_PAYMENT: 0,
    CheckoutStatus.PAYMENT_PENDING: 1,
    CheckoutStatus.REJECTED: 1,
    CheckoutStatus.EXPIRED: 2,
    CheckoutStatus.COMPLETED: 3,
    CheckoutStatus.REFUNDED: 4,
}
_RETRYABLE_STAGE = 1


def advance_checkout(current: CheckoutStatus, observed: CheckoutStatus) -> CheckoutStatus:
    """The status to keep when `observed` is written over `current`."""
    if _STAGE[observed] > _STAGE[current]:
        return observed
    if _STAGE[observed] == _STAGE[current] == _RETRYABLE_STAGE:
        return observed
    return current
