"""The MercadoPago circuit breaker: opens, fails fast, half-opens, closes; safe across threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from temporalio.exceptions import ApplicationError

from activities.circuit_breaker import CircuitBreaker, CircuitOpen, CircuitState
from activities.mercadopago import CIRCUIT_OPEN, MercadoPagoActivities, mercadopago_breaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock, threshold=3, cooldown=10.0) -> CircuitBreaker:
    return CircuitBreaker("test", failure_threshold=threshold, cooldown_seconds=cooldown, clock=clock)


def test_opens_after_consecutive_failures_only():
    clock = Clock()
    b = breaker(clock)
    for _ in range(2):
        b.acquire()
        b.record_failure()
    b.acquire()
    b.record_success()  # a success in between resets the count
    for _ in range(2):
        b.acquire()
        b.record_failure()
    assert b.state == CircuitState.CLOSED
    b.acquire()
    b.record_failure()
    assert b.state == CircuitState.OPEN
    with pytest.raises(CircuitOpen) as raised:
        b.acquire()
    assert 0 < raised.value.retry_in <= 10


def test_half_open_lets_one_trial_through_then_closes_or_reopens():
    clock = Clock()
    b = breaker(clock, threshold=1)
    b.acquire()
    b.record_failure()
    clock.now += 10
    assert b.state == CircuitState.HALF_OPEN
    b.acquire()  # the trial
    with pytest.raises(CircuitOpen):
        b.acquire()  # everyone else still fails fast
    b.record_failure()  # the trial failed: another full cool-down
    assert b.state == CircuitState.OPEN
    clock.now += 9.9
    with pytest.raises(CircuitOpen):
        b.acquire()
    clock.now += 0.1
    b.acquire()
    b.record_success()
    assert b.state == CircuitState.CLOSED
    b.acquire()
    b.acquire()


def test_a_trial_that_never_reports_frees_its_slot_after_a_cool_down():
    clock = Clock()
    b = breaker(clock, threshold=1)
    b.acquire()
    b.record_failure()
    clock.now += 10
    b.acquire()  # its thread dies without reporting
    clock.now += 10
    b.acquire()  # a new trial is allowed


def test_threshold_zero_never_opens():
    b = breaker(Clock(), threshold=0)
    for _ in range(100):
        b.acquire()
        b.record_failure()
    assert b.state == CircuitState.CLOSED


def test_many_threads_see_one_consistent_breaker():
    clock = Clock()
    b = breaker(clock, threshold=50, cooldown=60)
    passed, refused = [], []
    lock = threading.Lock()

    def call(_):
        try:
            b.acquire()
        except CircuitOpen:
            with lock:
                refused.append(1)
            return
        b.record_failure()
        with lock:
            passed.append(1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(call, range(2000)))
    # exactly the threshold's failures got through (the last ones may race the opening: a few more)
    assert 50 <= len(passed) <= 50 + 16
    assert len(passed) + len(refused) == 2000
    assert b.state == CircuitState.OPEN


class _Payments:
    def __init__(self, answer) -> None:
        self.answer, self.calls = answer, 0

    def get(self, *_args):
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class _Sdk:
    def __init__(self, answer) -> None:
        self.payments = _Payments(answer)

    def payment(self):
        return self.payments


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"status": 503, "response": {}}, id="503"),
        pytest.param(requests.ConnectTimeout("slow"), id="timeout"),
        pytest.param(requests.ConnectionError("refused"), id="refused"),
    ],
)
def test_the_gateway_stops_calling_a_failing_mercadopago(answer):
    sdk = _Sdk(answer)
    gateway = MercadoPagoActivities(sdk, timeout_seconds=1, back_urls={}, breaker=mercadopago_breaker(3, 60))
    errors = []
    for _ in range(10):
        with pytest.raises(ApplicationError) as raised:
            gateway.get_payment("123")
        errors.append(raised.value)
    assert sdk.payments.calls == 3  # then it failed fast, without a call
    assert all(not e.non_retryable for e in errors)  # Temporal keeps retrying: nothing is lost
    assert [e.type for e in errors[3:]] == [CIRCUIT_OPEN] * 7


def test_answers_that_blame_the_request_do_not_open_it():
    sdk = _Sdk({"status": 404, "response": {"message": "not found"}})
    gateway = MercadoPagoActivities(sdk, timeout_seconds=1, back_urls={}, breaker=mercadopago_breaker(2, 60))
    for _ in range(5):
        with pytest.raises(ApplicationError):
            gateway.get_payment("123")
    assert sdk.payments.calls == 5
