"""The load ramp: steps of more and more buyers at once, each a closed loop of whole purchases.

Each buyer checks out (retrying a `503 checkout_busy` with the same Idempotency-Key after its
Retry-After, as the storefront does), pays on the sandbox and waits until the purchase is
applied (told by one reader of the read model for all buyers, bench/completions.py), then
starts the next. A step runs a warm-up (its seconds, and until as many purchases
ended as there are buyers: with many buyers the first ones take long), then its measured
window: sagas/s are the purchases completed within it. Around the window the worker's metrics
are scraped for schedule-to-start latencies; after the step, the histories of the workflows
started during it are read for workflow-task timeouts, and the worker's log for task
completions the server no longer knew ("not found": a task that timed out and ran twice).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from bench.completions import Completions
from bench.load import Sample
from bench.paysaga import Paysaga

SCHEDULE_TO_START = {
    "workflow task": "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
    "activity": "temporal_activity_schedule_to_start_latency_seconds_bucket",
}
NOT_FOUND = re.compile(rb"not found when completing", re.IGNORECASE)
HISTORY_READERS = 8
WARM_UP_LIMIT = 60.0  # seconds a step's warm-up may outlast --ramp-warm-up while the first purchases end
_SERIES = re.compile(r"^(\w+)\{(.*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

# {(kind, task queue): {upper bound: cumulative count}}
Histograms = dict[tuple[str, str], dict[float, float]]


@dataclass
class _Tally:
    """What happened in one part of a step (warm-up, window, after)."""

    sagas: Sample = field(default_factory=Sample)  # completed purchases, checkout → applied
    checkouts: Sample = field(default_factory=Sample)  # accepted checkout answers
    refusals: Sample = field(default_factory=Sample)  # 503 checkout_busy answers

    def answered(self, accepted: bool, seconds: float) -> None:
        (self.checkouts if accepted else self.refusals).latencies.append(seconds)


@dataclass
class RampStep:
    buyers: int
    sagas: Sample  # purchases completed in the window (elapsed: the window)
    checkouts: Sample
    refusals: Sample
    workflows: int = 0  # started during the step, warm-up included: their histories were read
    task_timeouts: int = 0  # workflow tasks that ran past their timeout (start-to-close) in them
    # tasks that waited on a worker's sticky queue past its timeout: handed to any worker instead
    # (the worker had no free slot for them; they ran once, later)
    sticky_timeouts: int = 0
    not_found: int | None = None  # "not found when completing" lines in the worker's log (None: no log)
    # {(kind, task queue): (p50, p95) seconds} over the window
    schedule_to_start: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sagas.rate


async def step(
    paysaga: Paysaga,
    completions: Completions,
    client: Client,
    metrics_url: str,
    worker_log: Path | None,
    *,
    buyers: int,
    seconds: float,
    warm_up: float,
) -> RampStep:
    parts = [_Tally()]  # the last is the current part: warm-up, then the window, then after it
    log_offset = worker_log.stat().st_size if worker_log and worker_log.exists() else 0
    step_began = datetime.now(UTC)
    indexes = itertools.count()
    closed = asyncio.Event()

    async def buyer() -> None:
        while not closed.is_set():
            began = time.perf_counter()
            try:
                await paysaga.saga(
                    next(indexes),
                    answered=lambda accepted, s: parts[-1].answered(accepted, s),
                    until_completed=completions.until_completed,
                )
            except Exception as exc:  # counted, never raised: one failure must not end the step
                parts[-1].sagas.record(began, exc)
            else:
                parts[-1].sagas.record(began, None)

    async def window() -> tuple[float, Histograms, Histograms]:
        began = time.perf_counter()
        # steady once the buyers are past their first purchase (as many ended as there are buyers)
        while (waited := time.perf_counter() - began) < warm_up or (
            parts[0].sagas.ok + parts[0].sagas.error_count < buyers and waited < warm_up + WARM_UP_LIMIT
        ):
            await asyncio.sleep(0.1)
        before = await scrape(metrics_url)
        parts.append(_Tally())
        began = time.perf_counter()
        await asyncio.sleep(seconds)
        parts.append(_Tally())
        elapsed = time.perf_counter() - began
        return elapsed, before, await scrape(metrics_url)

    shopping = asyncio.gather(*(buyer() for _ in range(buyers)))
    try:
        elapsed, before, after = await window()
    finally:
        closed.set()
        await shopping  # the purchases under way end (after the window: not counted)
    measured = parts[1]
    measured.sagas.elapsed = elapsed
    result = RampStep(buyers, measured.sagas, measured.checkouts, measured.refusals)
    result.schedule_to_start = {
        key: (quantile(0.50, counts), quantile(0.95, counts)) for key, counts in delta(before, after).items()
    }
    result.workflows, result.task_timeouts, result.sticky_timeouts = await task_timeouts(
        client, step_began, datetime.now(UTC)
    )
    if worker_log and worker_log.exists():
        with worker_log.open("rb") as f:
            f.seek(log_offset)
            result.not_found = len(NOT_FOUND.findall(f.read()))
    return result


async def scrape(url: str) -> Histograms:
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
    return parse_histograms(text)


def parse_histograms(text: str) -> Histograms:
    """The schedule-to-start buckets of a Prometheus scrape, summed by kind and task queue."""
    names = {metric: kind for kind, metric in SCHEDULE_TO_START.items()}
    found: Histograms = defaultdict(lambda: defaultdict(float))
    for line in text.splitlines():
        match = _SERIES.match(line)
        if match is None or match[1] not in names:
            continue
        labels = dict(_LABEL.findall(match[2]))
        found[names[match[1]], labels.get("task_queue", "")][float(labels["le"])] += float(match[3])
    return {key: dict(buckets) for key, buckets in found.items()}


def delta(before: Histograms, after: Histograms) -> Histograms:
    """What was observed between two scrapes (series with no new observation left out)."""
    changed = {}
    for key, buckets in after.items():
        old = before.get(key, {})
        counts = {le: n - old.get(le, 0.0) for le, n in buckets.items()}
        if counts.get(math.inf, 0.0) > 0:
            changed[key] = counts
    return changed


def quantile(q: float, buckets: dict[float, float]) -> float:
    """The upper bound of the bucket that holds the q-quantile (nan when nothing was observed).

    The SDK's buckets are coarse (0.1, 0.5, 1, 5, 10 … s): interpolating within one, as
    Prometheus' histogram_quantile does, would print precise-looking figures nothing measured."""
    total = buckets.get(math.inf, 0.0)
    if not total:
        return math.nan
    return next(upper for upper in sorted(buckets) if buckets[upper] >= q * total)


def at_most(seconds: float) -> str:
    """A bucket bound as a latency: `≤ 100 ms`, `≤ 5 s`, `> 1000 s` (the +Inf bucket)."""
    if math.isnan(seconds):
        return "–"
    if math.isinf(seconds):
        return "beyond the buckets"
    return f"≤ {seconds * 1000:.0f} ms" if seconds < 1 else f"≤ {seconds:g} s"


async def task_timeouts(client: Client, since: datetime, until: datetime) -> tuple[int, int, int]:
    """(workflows started in [since, until], their workflow tasks timed out start-to-close, and
    schedule-to-start on a sticky queue), from WORKFLOW_TASK_TIMED_OUT events in their histories."""
    query = f"StartTime >= '{_rfc3339(since)}' AND StartTime <= '{_rfc3339(until)}'"
    runs = [(w.id, w.run_id) async for w in client.list_workflows(query)]
    readers = asyncio.Semaphore(HISTORY_READERS)

    async def timeouts(workflow_id: str, run_id: str) -> list[int]:
        async with readers:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            return [
                event.workflow_task_timed_out_event_attributes.timeout_type
                async for event in handle.fetch_history_events()
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
            ]

    kinds = [kind for found in await asyncio.gather(*(timeouts(*run) for run in runs)) for kind in found]
    return (
        len(runs),
        kinds.count(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE),
        len(kinds) - kinds.count(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE),
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def knee(steps: list[RampStep]) -> tuple[RampStep, RampStep | None] | None:
    """The step with the most sagas/s, and the step at four times its buyers (None: not in the ramp)."""
    if not steps:
        return None
    top = max(steps, key=lambda s: s.rate)
    return top, next((s for s in steps if s.buyers == 4 * top.buyers), None)


def knee_verdict(steps: list[RampStep]) -> str:
    """Where the knee is, and whether four times its buyers still complete ≥ 90% of its sagas/s."""
    found = knee(steps)
    if found is None:
        return "no ramp"
    top, at_four = found
    text = f"knee at {top.buyers} buyers ({top.rate:.2f} sagas/s)"
    if at_four is None:
        return text + f"; {4 * top.buyers} buyers (4×) not in the ramp"
    ratio = at_four.rate / top.rate if top.rate else math.nan
    verdict = "✅" if ratio >= 0.9 else "❌ collapses"
    return text + f"; at {at_four.buyers} buyers (4×) {at_four.rate:.2f} sagas/s, {ratio:.2f} of it {verdict} (≥ 0.90)"


def summary(step: RampStep, floor_rate: float | None) -> str:
    ratio = f" ({step.rate / floor_rate:.2f} of the floor)" if floor_rate else ""
    refused = f" (p99 {step.refusals.p99 * 1000:.0f} ms)" if step.refusals.ok else ""
    waits = "; ".join(
        f"{kind} {queue} {at_most(p50)} / {at_most(p95)}"
        for (kind, queue), (p50, p95) in sorted(step.schedule_to_start.items())
    )
    return (
        f"{step.buyers} buyers: {step.rate:.2f} sagas/s{ratio}, {step.sagas.error_count} errors; "
        f"checkout p50 {step.checkouts.p50 * 1000:.0f} ms, p99 {step.checkouts.p99 * 1000:.0f} ms; "
        f"{step.refusals.ok} refused{refused}; "
        f"{step.task_timeouts} workflow-task timeouts ({step.sticky_timeouts} sticky schedule-to-start)"
        f" in {step.workflows} workflows, "
        f"{'–' if step.not_found is None else step.not_found} not found; schedule-to-start p50/p95: {waits or '–'}"
    )
