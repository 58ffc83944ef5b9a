from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.statuses import SubscriptionStatus
from domain.subscription import Ledger, status_at

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = "P1D"


def test_payments_chain_and_duplicates_count_once():
    ledger = Ledger()
    assert ledger.apply("1", 1, DAY, T0)
    assert not ledger.apply("1", 1, DAY, T0)
    assert ledger.apply("2", 1, DAY, T0 + timedelta(hours=1))
    period = ledger.period()
    assert (period.start, period.end) == (T0, T0 + timedelta(days=2))


def test_a_payment_after_a_lapse_starts_from_its_approval():
    ledger = Ledger()
    ledger.apply("1", 1, DAY, T0)
    later = T0 + timedelta(days=5)
    ledger.apply("2", 1, DAY, later)
    assert (ledger.period().start, ledger.period().end) == (later, later + timedelta(days=1))


def test_apply_returns_the_period_the_payment_bought():
    ledger = Ledger()
    first = ledger.apply("1", 7, DAY, T0)
    assert (first.start, first.end, first.plan_id) == (T0, T0 + timedelta(days=1), 7)
    # paid before the first period ends: chained from its end, not from the approval
    second = ledger.apply("2", 8, DAY, T0 + timedelta(hours=3))
    assert (second.start, second.end, second.plan_id) == (T0 + timedelta(days=1), T0 + timedelta(days=2), 8)
    assert ledger.apply("2", 8, DAY, T0 + timedelta(hours=3)) is None  # already applied: bought nothing
    # paid after the paid time ran out: a gap, the period starts at the approval
    later = T0 + timedelta(days=5)
    third = ledger.apply("3", 8, "P1M", later)
    assert (third.start, third.end) == (later, datetime(2026, 2, 6, tzinfo=UTC))
    assert ledger.period().start == later and ledger.period().end == third.end


def test_apply_chains_from_what_is_left_after_a_reversal_or_a_cancellation():
    ledger = Ledger()
    ledger.apply("1", 1, DAY, T0)
    ledger.apply("2", 1, DAY, T0)
    ledger.reverse("2")
    assert ledger.apply("3", 1, DAY, T0).start == T0 + timedelta(days=1)  # after "1" only
    ledger.cancel()
    fresh = ledger.apply("4", 1, DAY, T0 + timedelta(hours=1))
    assert (fresh.start, fresh.end) == (T0 + timedelta(hours=1), T0 + timedelta(days=1, hours=1))


def test_refund_takes_back_the_period_and_nothing_left_is_expired():
    ledger = Ledger()
    ledger.apply("1", 1, DAY, T0)
    assert ledger.reverse("1") and not ledger.reverse("1")
    assert ledger.period() is None
    assert status_at(ledger.period(), T0, ledger.cancelled) == SubscriptionStatus.EXPIRED


def test_cancel_ends_access_and_a_later_payment_starts_a_new_period():
    ledger = Ledger()
    ledger.apply("1", 1, DAY, T0)
    ledger.cancel()
    assert status_at(ledger.period(), T0, ledger.cancelled) == SubscriptionStatus.CANCELLED
    again = T0 + timedelta(hours=2)
    ledger.apply("2", 1, DAY, again)
    assert status_at(ledger.period(), again, ledger.cancelled) == SubscriptionStatus.ACTIVE
    assert ledger.period().start == again


# Random interleavings of back-to-back payments, duplicates and reversals: the paid time is
# exactly one period per payment applied and not reversed.
events = st.lists(st.tuples(st.sampled_from(["pay", "refund"]), st.integers(0, 9)), max_size=40)


@settings(max_examples=300)
@given(events)
def test_end_date_is_the_sum_of_live_periods(history):
    ledger = Ledger()
    for kind, n in history:
        if kind == "pay":
            ledger.apply(str(n), 1, DAY, T0)  # all approved at T0: they chain
        else:
            ledger.reverse(str(n))
    live = [e for e in ledger.entries.values() if not e.reversed]
    period = ledger.period()
    if not live:
        assert period is None
    else:
        assert period.end - period.start == timedelta(days=len(live))


# The same, with the workflow's continue-as-new carry-over ("restart") at random points and
# notifications redelivered: de-duplication and the paid time survive every restart.
from workflows.subscription import restore_ledger, saved_ledger  # noqa: E402
from workflows.subscription_messages import SubscriptionState  # noqa: E402

steps = st.lists(st.tuples(st.sampled_from(["pay", "refund", "chargeback", "restart"]), st.integers(0, 6)), max_size=60)


@settings(max_examples=300)
@given(steps)
def test_restarts_keep_the_ledger_and_its_de_duplication(history):
    ledger = Ledger()
    applied: set[str] = set()
    reversed_: set[str] = set()
    for kind, n in history:
        payment = str(n)
        if kind == "pay":
            assert (ledger.apply(payment, 1, DAY, T0) is not None) == (payment not in applied)
            applied.add(payment)
        elif kind == "restart":
            state = SubscriptionState(**saved_ledger(ledger))
            ledger = restore_ledger(SubscriptionState.model_validate_json(state.model_dump_json()))
        else:
            assert ledger.reverse(payment) == (payment in applied and payment not in reversed_)
            if payment in applied:
                reversed_.add(payment)
    live = applied - reversed_
    period = ledger.period()
    assert (period is None) == (not live)
    if live:
        assert period.end - period.start == timedelta(days=len(live))
