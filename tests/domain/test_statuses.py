import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.statuses import PaymentStatus, from_mercadopago, merge_status


@pytest.mark.parametrize(
    "mercadopago, ours",
    [
        ("pending", "PENDING"),
        ("approved", "APPROVED"),
        ("authorized", "APPROVED"),
        ("in_process", "PENDING"),
        ("in_mediation", "IN_MEDIATION"),
        ("rejected", "REJECTED"),
        ("cancelled", "CANCELLED"),
        ("refunded", "REFUNDED"),
        ("charged_back", "CHARGED_BACK"),
    ],
)
def test_contract_status_mapping(mercadopago, ours):
    assert from_mercadopago(mercadopago) == PaymentStatus(ours)


def test_unknown_status_is_an_error():
    with pytest.raises(ValueError):
        from_mercadopago("teleported")


def test_late_pending_never_overwrites_approved_and_refunds_win():
    assert merge_status(PaymentStatus.APPROVED, PaymentStatus.PENDING) == PaymentStatus.APPROVED
    assert merge_status(PaymentStatus.APPROVED, PaymentStatus.REFUNDED) == PaymentStatus.REFUNDED
    assert merge_status(PaymentStatus.REFUNDED, PaymentStatus.APPROVED) == PaymentStatus.REFUNDED
    assert merge_status(PaymentStatus.CHARGED_BACK, PaymentStatus.REFUNDED) == PaymentStatus.CHARGED_BACK


@given(st.lists(st.sampled_from(list(PaymentStatus)), min_size=1))
def test_merge_is_order_independent(observations):
    forward = None
    for status in observations:
        forward = merge_status(forward, status)
    backward = None
    for status in reversed(observations):
        backward = merge_status(backward, status)
    # equal rank statuses (rejected/cancelled) may tie; the rank of the result never depends on order
    assert {forward, backward} <= set(observations)
    assert merge_status(forward, backward) in (forward, backward)
