"""Start a checkout through the API as a frontend must: with an Idempotency-Key, and when the API
answers `503 checkout_busy` (too many checkouts in flight, or the preference not ready within the
answer budget) wait its Retry-After and send the SAME key again, until a deadline.

The same key lands on the same checkout workflow, so a retry is the same checkout and the same
preference, never a second one. Only `checkout_busy` is retried: any other answer (201, 200, 404,
409, `503 checkout_unavailable`...) is what the test asked for and is returned as it came.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

CHECKOUT_PATH = "/api/payments/checkout"
BUSY = "checkout_busy"
# how long a test waits for one checkout to be answered, retries included: a loaded CI machine
# refuses some for a while, never for this long
CHECKOUT_DEADLINE_SECONDS = 60.0
MAX_WAIT_SECONDS = 5.0  # a Retry-After longer than this is waited this long


@dataclass(frozen=True)
class Attempt:
    """One request of a checkout: its answer (0 when none came), how long it took, its Retry-After."""

    status: int
    seconds: float
    error: str | None = None  # the JSON body's `error`, or the transport error's type
    retry_after: str | None = None
    body: dict | None = None
    sent_at: float = 0.0  # time.monotonic() when it was sent


@dataclass
class CheckoutCall:
    """Every request sent for one checkout (one key), and the answer it ended with."""

    key: str
    attempts: list[Attempt] = field(default_factory=list)
    answer: httpx.Response | None = None

    @property
    def busy(self) -> list[Attempt]:
        return [a for a in self.attempts if is_busy_attempt(a)]


def assert_created(answer: httpx.Response, call: CheckoutCall) -> dict:
    """The answer of a new checkout: 201, or 200 when it was refused busy first (the workflow may
    have answered the refused try's update already, so the retry is answered as a replay)."""
    allowed = {201, 200} if call.busy else {201}
    assert answer.status_code in allowed, (
        f"{answer.status_code} after {[a.status for a in call.attempts]}: {answer.text}"
    )
    return answer.json()


def is_busy(answer: httpx.Response) -> bool:
    return answer.status_code == 503 and _error_of(answer) == BUSY


def is_busy_attempt(attempt: Attempt) -> bool:
    return attempt.status == 503 and attempt.error == BUSY


def retry_after_seconds(value: str | None) -> float:
    """Retry-After as seconds to wait (at least a tenth of a second, at most MAX_WAIT_SECONDS)."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(MAX_WAIT_SECONDS, max(0.1, seconds))


async def start_checkout_retrying(
    api: httpx.AsyncClient,
    user_id: int,
    plan_id: int = 1,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    deadline: float = CHECKOUT_DEADLINE_SECONDS,
    retry_unavailable: bool = False,
    call: CheckoutCall | None = None,
    jitter: float = 0.0,
) -> httpx.Response:
    """POST the checkout with `key` (a fresh one when None) and retry `checkout_busy` with it.

    Returns the first answer that is not `checkout_busy`, or the last busy one once waiting its
    Retry-After would pass `deadline` seconds. `headers` are added to every request (a bearer
    token when `api` has none); `call`, when given, records every attempt. With
    `retry_unavailable` (processes restarted under the test) any 503 is retried the same way and
    a request that got no answer is sent again after a second; otherwise its error is raised.
    `jitter` adds up to that many seconds, at random, to each wait (0: exactly Retry-After, the
    way a browser obeys it; every client refused at once then comes back at once).
    """
    if call is None:
        call = CheckoutCall(key or uuid.uuid4().hex)
    key = key or call.key
    send_headers = {**(headers or {}), "Idempotency-Key": key}
    body = {"userId": user_id, "planId": plan_id}
    ends = time.monotonic() + deadline
    while True:
        sent_at, started = time.monotonic(), time.perf_counter()
        try:
            answer = await api.post(CHECKOUT_PATH, json=body, headers=send_headers)
        except httpx.TransportError as exc:
            call.attempts.append(Attempt(0, time.perf_counter() - started, type(exc).__name__, sent_at=sent_at))
            if not retry_unavailable or time.monotonic() + 1.0 > ends:
                raise
            await asyncio.sleep(1.0)
            continue
        retry_after = answer.headers.get("Retry-After")
        call.attempts.append(
            Attempt(
                answer.status_code,
                time.perf_counter() - started,
                _error_of(answer),
                retry_after,
                _json(answer),
                sent_at,
            )
        )
        call.answer = answer
        if not (is_busy(answer) or (retry_unavailable and answer.status_code == 503)):
            return answer
        wait = retry_after_seconds(retry_after) + random.uniform(0, jitter)
        if time.monotonic() + wait > ends:
            return answer  # still busy at the deadline: the caller's assertion shows this answer
        await asyncio.sleep(wait)


def start_checkout_retrying_sync(
    api_url: str, token: str, user_id: int, plan_id: int = 1, *, deadline: float = CHECKOUT_DEADLINE_SECONDS
) -> httpx.Response:
    """The same, for synchronous tests: one key, `checkout_busy` retried after its Retry-After."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    body = {"userId": user_id, "planId": plan_id}
    ends = time.monotonic() + deadline
    while True:
        answer = httpx.post(f"{api_url}{CHECKOUT_PATH}", json=body, headers=headers, timeout=15)
        if not is_busy(answer):
            return answer
        wait = retry_after_seconds(answer.headers.get("Retry-After"))
        if time.monotonic() + wait > ends:
            return answer
        time.sleep(wait)


def _json(answer: httpx.Response) -> dict | None:
    try:
        value = answer.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_of(answer: httpx.Response) -> str | None:
    body = _json(answer)
    return body.get("error") if body else None
