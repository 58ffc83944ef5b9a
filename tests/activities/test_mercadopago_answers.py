"""Answers of MercadoPago that are neither success nor outage: a 429 (slow down) and a 404 for a
payment id (anyone can notify any id). Neither may open the circuit breaker nor cost an audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.circuit_breaker import CircuitState
from activities.mercadopago import (
    PAYMENT_NOT_FOUND,
    THROTTLED,
    THROTTLED_DEFAULT_DELAY_SECONDS,
    MercadoPagoActivities,
    mercadopago_breaker,
)
from telemetry import business_metrics
from tests.activities.test_circuit_breaker import Clock, _Sdk


def gateway(answer, breaker=None, **options) -> tuple[MercadoPagoActivities, _Sdk]:
    sdk = _Sdk(answer)
    return MercadoPagoActivities(
        sdk, timeout_seconds=1, back_urls={}, breaker=breaker or mercadopago_breaker(3, 60), **options
    ), sdk


def throttled_count() -> float:
    return business_metrics.THROTTLED.labels(operation="get_payment")._value.get()


def test_a_run_of_429s_is_back_pressure_not_an_outage():
    breaker = mercadopago_breaker(3, 60)
    mp, sdk = gateway({"status": 429, "response": {"message": "too many requests"}, "retry_after": "3"}, breaker)
    before = throttled_count()
    for _ in range(10):
        with pytest.raises(ApplicationError) as raised:
            mp.get_payment("123")
        assert raised.value.type == THROTTLED and not raised.value.non_retryable
        # MercadoPago's Retry-After, spread a little so the retries do not all land at once
        assert timedelta(seconds=3) <= raised.value.next_retry_delay <= timedelta(seconds=4.5)
    assert sdk.payments.calls == 10  # every call was made: the circuit stayed closed
    assert breaker.state == CircuitState.CLOSED
    assert throttled_count() - before == 10


def test_a_429_without_retry_after_waits_a_spread_default():
    mp, _ = gateway({"status": 429, "response": {}})
    delays = set()
    for _ in range(20):
        with pytest.raises(ApplicationError) as raised:
            mp.get_payment("123")
        delay = raised.value.next_retry_delay.total_seconds()
        assert THROTTLED_DEFAULT_DELAY_SECONDS <= delay <= THROTTLED_DEFAULT_DELAY_SECONDS * 1.5
        delays.add(delay)
    assert len(delays) > 1  # jittered


def test_a_429_neither_resets_nor_adds_to_the_failure_count():
    sdk = _Sdk({"status": 503, "response": {}})
    breaker = mercadopago_breaker(3, 60)
    mp = MercadoPagoActivities(sdk, timeout_seconds=1, back_urls={}, breaker=breaker)
    for answer in (
        {"status": 503, "response": {}},
        {"status": 503, "response": {}},
        {"status": 429, "response": {}},
        {"status": 503, "response": {}},
    ):
        sdk.payments.answer = answer
        with pytest.raises(ApplicationError):
            mp.get_payment("123")
    assert breaker.state == CircuitState.OPEN  # three failures in a row, the 429 between them aside


def test_a_throttled_half_open_trial_frees_its_slot_for_the_next_caller():
    from activities.circuit_breaker import CircuitBreaker

    clock = Clock()
    breaker = CircuitBreaker("mercadopago", failure_threshold=1, cooldown_seconds=10, clock=clock)
    mp, sdk = gateway({"status": 503, "response": {}}, breaker)
    with pytest.raises(ApplicationError):
        mp.get_payment("123")  # opens it
    clock.now += 10
    sdk.payments.answer = {"status": 429, "response": {}}
    with pytest.raises(ApplicationError) as raised:
        mp.get_payment("123")  # the trial, throttled: says nothing about MercadoPago's health
    assert raised.value.type == THROTTLED
    assert breaker.state == CircuitState.HALF_OPEN
    sdk.payments.answer = {"status": 200, "response": _payment_body()}
    mp.get_payment("123")  # the next caller is the trial at once (not after another cool-down)
    assert breaker.state == CircuitState.CLOSED
    assert sdk.payments.calls == 3


def test_an_unknown_payment_is_counted_and_says_when_to_ask_again():
    mp, _ = gateway({"status": 404, "response": {"message": "Payment not found"}}, unknown_recheck_after_seconds=420)
    before = business_metrics.UNKNOWN_PAYMENTS._value.get()
    with pytest.raises(ApplicationError) as raised:
        mp.get_payment("999")
    assert raised.value.type == PAYMENT_NOT_FOUND and raised.value.non_retryable
    assert raised.value.details == (420.0,)
    assert business_metrics.UNKNOWN_PAYMENTS._value.get() - before == 1


def test_an_unauthorized_read_is_not_an_unknown_payment():
    mp, _ = gateway({"status": 401, "response": {"message": "invalid token"}})
    before = business_metrics.UNKNOWN_PAYMENTS._value.get()
    with pytest.raises(ApplicationError) as raised:
        mp.get_payment("999")
    assert raised.value.type == "MercadoPagoUnauthorized"
    assert business_metrics.UNKNOWN_PAYMENTS._value.get() == before


def _payment_body() -> dict:
    return {
        "id": 123,
        "status": "approved",
        "transaction_amount": "9.99",
        "currency_id": "ARS",
        "date_created": "2026-01-01T00:00:00.000-04:00",
    }


class _PagedSearch:
    """MercadoPago's payment search over `count` payments, answering `limit` from `offset`."""

    def __init__(self, count: int) -> None:
        self.items = [
            {
                "id": 9_000 + n,
                "status": "approved",
                "currency_id": "ARS",
                "transaction_amount": 1,
                "date_created": "2026-01-15T12:00:00.000+00:00",
            }
            for n in range(count)
        ]
        self.offsets: list[int] = []

    def payment(self):
        return self

    def search(self, filters, _options):
        offset, limit = filters["offset"], filters["limit"]
        self.offsets.append(offset)
        return {
            "status": 200,
            "response": {"results": self.items[offset : offset + limit], "paging": {"total": len(self.items)}},
        }


def test_the_whole_window_search_of_older_runs_reads_every_page():
    from datetime import UTC, datetime

    from domain.gateway import PaymentWindow

    sdk = _PagedSearch(250)
    mp = MercadoPagoActivities(sdk, timeout_seconds=1, back_urls={})
    end = datetime(2026, 1, 16, tzinfo=UTC)
    found = mp.search_recent_payments(PaymentWindow(begin=end - timedelta(hours=48), end=end))
    assert [p.mercadopago_payment_id for p in found] == [str(9_000 + n) for n in range(250)]
    assert sdk.offsets == [0, 100, 200]
