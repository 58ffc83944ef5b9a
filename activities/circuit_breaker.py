"""A circuit breaker for calls to one remote service, shared by every thread of the process.

While MercadoPago is down, dozens of sagas retry their calls on their own backoff; together they
would keep hammering it (and hold worker threads on timeouts). After `failure_threshold`
consecutive failures the circuit opens: calls fail fast, without touching the network, until
`cooldown_seconds` have passed. Then one trial call goes through (half-open): its success closes
the circuit, its failure opens it for another cool-down. Temporal keeps retrying the activities,
so nothing is lost; only the calls that could not have succeeded are saved.

Some answers say nothing about the service's health (a 429: it is up, and asks us to slow
down). Such a call is `release`d: it neither counts as a failure nor closes the circuit, and
when it was the half-open trial its slot goes to the next caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The call was not made: the remote service is considered down for `retry_in` more seconds."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name} is open; next trial in {retry_in:.1f}s")
        self.retry_in = retry_in


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[CircuitState], None] | None = None,
    ) -> None:
        self.name = name
        self._threshold = failure_threshold  # 0: never opens
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        # the one trial call of a half-open circuit, and when it started: a trial that never
        # reports back (its thread died) frees the slot after another cool-down
        self._trial_started: float | None = None

    @property
    def cooldown_seconds(self) -> float:
        return self._cooldown

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at < self._cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def acquire(self) -> bool:
        """Before a call: returns when it may go ahead (True when it is the half-open trial),
        raises CircuitOpen when it may not."""
        with self._lock:
            state = self._state()
            if state == CircuitState.CLOSED:
                return False
            now = self._clock()
            if state == CircuitState.HALF_OPEN:
                if self._trial_started is None or now - self._trial_started >= self._cooldown:
                    self._trial_started = now
                    return True
                raise CircuitOpen(self.name, self._cooldown - (now - self._trial_started))
            assert self._opened_at is not None  # OPEN: it opened at some moment
            raise CircuitOpen(self.name, self._cooldown - (now - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            self._failures = 0
            self._opened_at = None
            self._trial_started = None
        if was_open:
            self._changed(CircuitState.CLOSED)

    def release(self, trial: bool) -> None:
        """After a call whose answer says nothing about the service's health: no failure, no
        success. A trial's slot is freed, so the next caller makes the trial at once."""
        if not trial:
            return
        with self._lock:
            self._trial_started = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            trial_failed = self._trial_started is not None
            opens = trial_failed or (
                self._threshold > 0 and self._opened_at is None and self._failures >= self._threshold
            )
            if opens:
                self._opened_at = self._clock()
                self._trial_started = None
        if opens:
            self._changed(CircuitState.OPEN)

    def _changed(self, state: CircuitState) -> None:
        if self._on_change is not None:
            self._on_change(state)
