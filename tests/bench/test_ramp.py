"""The ramp's pure helpers: schedule-to-start percentiles from two scrapes, and the knee."""

import math

from bench.load import Sample
from bench.paysaga import Paysaga
from bench.ramp import RampStep, at_most, delta, knee, knee_verdict, parse_histograms, quantile

METRIC = "temporal_workflow_task_schedule_to_start_latency_seconds_bucket"


def _scrape(counts: dict[str, tuple[int, int, int]]) -> str:
    """One scrape: per task queue, the cumulative counts at le 0.1, 1 and +Inf (two namespaces' worth)."""
    lines = ["# HELP whatever", 'temporal_worker_task_slots_used{task_queue="payments"} 3']
    for queue, (a, b, c) in counts.items():
        for le, n in (("0.1", a), ("1", b), ("+Inf", c)):
            lines.append(f'{METRIC}{{namespace="default",task_queue="{queue}",le="{le}"}} {n}')
    return "\n".join(lines)


def test_percentiles_are_of_what_happened_between_the_scrapes():
    before = parse_histograms(_scrape({"payments": (10, 10, 10), "payments-checkout": (5, 5, 5)}))
    after = parse_histograms(_scrape({"payments": (10, 20, 30), "payments-checkout": (5, 5, 5)}))
    changed = delta(before, after)
    assert list(changed) == [("workflow task", "payments")]  # the idle queue is left out
    buckets = changed["workflow task", "payments"]
    assert buckets == {0.1: 0, 1.0: 10, math.inf: 20}
    assert quantile(0.25, buckets) == 1.0  # the bucket (0.1, 1] holds it
    assert quantile(0.95, buckets) == math.inf
    assert math.isnan(quantile(0.5, {0.1: 0, math.inf: 0}))
    assert [at_most(x) for x in (0.1, 5.0, math.inf)] == ["≤ 100 ms", "≤ 5 s", "beyond the buckets"]


def _step(buyers: int, sagas: int) -> RampStep:
    return RampStep(buyers, Sample(latencies=[1.0] * sagas, elapsed=10.0), Sample(), Sample())


def test_the_knee_is_the_busiest_step_and_four_times_it_is_judged():
    steps = [_step(5, 20), _step(10, 40), _step(20, 38), _step(40, 37)]
    top, at_four = knee(steps) or (None, None)
    assert (top.buyers, at_four and at_four.buyers) == (10, 40)
    assert "0.93 of it ✅" in knee_verdict(steps)
    assert "❌" in knee_verdict([_step(5, 20), _step(20, 10)])
    assert "not in the ramp" in knee_verdict(steps[:3])


class _ScriptedApi:
    """Answers checkout calls from a script, and remembers the Idempotency-Key of each call."""

    def __init__(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.answers = list(answers)
        self.keys: list[str] = []

    async def exchange(self, method, target, body, headers):
        self.keys.append(headers["Idempotency-Key"])
        return self.answers.pop(0)


async def test_a_busy_checkout_is_retried_with_the_same_key_after_retry_after(monkeypatch):
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("bench.paysaga.asyncio.sleep", no_wait)
    busy = (503, {"retry-after": "2"}, b'{"error": "checkout_busy", "message": "retry"}')
    created = (201, {}, b'{"checkoutId": "c1", "preferenceId": "p1"}')
    paysaga = Paysaga("http://127.0.0.1:1", "http://127.0.0.1:2", None, "secret", "payments")  # type: ignore[arg-type]
    paysaga.api = _ScriptedApi(busy, created)  # type: ignore[assignment]
    answers: list[bool] = []
    checkout = await paysaga.open_checkout(answered=lambda accepted, _: answers.append(accepted))
    assert checkout["preferenceId"] == "p1"
    assert len(waits) == 1 and 2.0 <= waits[0] <= 2.5 and answers == [False, True]  # Retry-After plus jitter
    assert len(set(paysaga.api.keys)) == 1  # type: ignore[attr-defined]
