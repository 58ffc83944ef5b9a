"""One benchmark run against one running stack: the floor first, then paysaga under the same load."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field

from temporalio.client import Client

from bench.completions import Completions
from bench.floor import Floor
from bench.load import Sample, closed_loop, fixed_rate, merged
from bench.machine import cpu_seconds, loaded_libraries, resident_mb
from bench.paysaga import Paysaga
from bench.ramp import RampStep, knee_verdict, step, summary
from bench.stack import BenchStack
from bench.work import TemporalWork, work_of
from config.settings import Settings
from config.temporal import connect_temporal
from devstack.stack import HOST

WARM_UP_SAGAS = 4
PHASES = ("floor", "webhooks", "rates", "sagas", "burst", "ramp", "memory")
DEFAULT_PHASES = tuple(p for p in PHASES if p != "ramp")  # the ramp takes minutes per step: asked for by name


@dataclass
class Options:
    concurrency: int = 20  # requests in flight: raw signal-with-start vs webhooks
    saga_concurrency: int = 10  # sagas in flight, and the floor's completed workflows
    loop_seconds: float = 30.0  # each closed-loop comparison
    floor_starts: int = 2000  # workflows started (then signalled) to time starts and signals
    rates: tuple[int, ...] = (50, 100, 200, 400)
    rate_seconds: float = 30.0  # each fixed rate
    saga_seconds: float = 60.0  # sustained end-to-end sagas
    low_load_sagas: int = 30  # one at a time: checkout→ACTIVE at low load
    burst: int = 2000  # duplicate webhooks in the burst
    burst_concurrency: int = 50
    open_workflows: int = 10_000  # open checkouts, and as many active subscriptions
    open_concurrency: int = 50  # opening them (not measured for speed)
    slices: int = 3  # the closed-loop comparison alternates floor and paysaga this many times
    rate_slices: int = 1  # and each fixed rate this many times
    catch_up_limit: float = 120.0  # seconds to wait for workers to finish what a slice left them
    ramp_buyers: tuple[int, ...] = (5, 10, 20, 40, 80)  # the ramp's steps: buyers at once
    ramp_seconds: float = 60.0  # each step's measured window
    ramp_warm_up: float = 10.0  # before each window, not counted
    phases: tuple[str, ...] = DEFAULT_PHASES


@dataclass
class BackendResult:
    backend: str
    dev_server: str = "tuned"  # the Temporal dev server's settings: "tuned" (devstack's) or "default"
    floor: dict[str, Sample] = field(default_factory=dict)
    webhooks: dict[str, Sample] = field(default_factory=dict)
    rates: list[tuple[int, Sample, Sample]] = field(default_factory=list)  # rate, raw, webhook
    sagas: dict[str, Sample] = field(default_factory=dict)
    burst: dict[str, Sample] = field(default_factory=dict)
    ramp: list[RampStep] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    api_libraries: dict[str, bool] = field(default_factory=dict)
    catch_up: dict[str, float] = field(default_factory=dict)  # seconds workers needed after the load stopped
    # CPU seconds by process while measuring (catching up included), and the operations done:
    # {measurement: {"operations": n, process: seconds}}
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    # what one floor workflow and one saga asked of the Temporal server
    work: dict[str, TemporalWork] = field(default_factory=dict)
    seconds: float = 0.0


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def measure(running: BenchStack, options: Options) -> BackendResult:
    started = time.monotonic()
    result = BackendResult(running.backend, "tuned" if running.config.temporal_tuned else "default")
    config = running.config
    settings = Settings(temporal_address=config.temporal_address)
    client = await connect_temporal(settings)
    floor = Floor(await Client.connect(config.temporal_address), run_id=secrets.token_hex(3))
    paysaga = Paysaga(config.api_url, config.sandbox_url, client, config.webhook_secret, settings.temporal_task_queue)
    result.api_libraries = loaded_libraries(running.pid("api"), ("uvloop", "httptools"))
    pids = {name: running.pid(name) for name in ("temporal", "api", "worker", "sandbox")}
    assert running.floor_worker.process is not None  # started with the stack
    pids["floor worker"] = running.floor_worker.process.pid
    pids["bench"] = os.getpid()
    ctx = _Context(floor, paysaga, client, options, result, pids)
    try:
        log("warming up")
        await closed_loop(floor.complete, concurrency=5, count=20, first_index=10**6)
        await closed_loop(paysaga.webhook, concurrency=5, count=50)
        await closed_loop(paysaga.saga, concurrency=2, count=WARM_UP_SAGAS)
        # the warm-up webhooks' payment workflows end once their unknown payment is audited; the sagas' stay
        # open (idle) and are the baseline the later phases wait down to
        await ctx.quiet("PaymentWorkflow", WARM_UP_SAGAS)
        ctx.payment_baseline = await ctx.running("PaymentWorkflow")

        if "floor" in options.phases:
            await _floor(ctx)
        if "webhooks" in options.phases:
            await _webhooks(ctx)
        if "rates" in options.phases:
            await _rates(ctx)
        # what the rates left unfinished would slow the sagas: let the workers finish it first
        await ctx.quiet("BenchFloor", limit=600.0)
        await ctx.quiet("PaymentWorkflow", ctx.payment_baseline, limit=600.0)
        if "sagas" in options.phases:
            await _sagas(ctx)
        if "burst" in options.phases:
            await _burst(ctx)
        if "ramp" in options.phases:
            await _ramp(running, ctx)
        if "memory" in options.phases:
            await _memory(running, ctx)
    finally:
        paysaga.close()
    result.seconds = time.monotonic() - started
    return result


@dataclass
class _Context:
    floor: Floor
    paysaga: Paysaga
    client: Client
    options: Options
    result: BackendResult
    pids: dict[str, int]
    payment_baseline: int = 0  # payment workflows left open (idle) by the warm-up's sagas

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def charge(self, label: str, before: dict[str, float], operations: int) -> None:
        """Add the CPU each process spent since `before` to the measurement's account."""
        account = self.result.cpu.setdefault(label, {"operations": 0.0})
        account["operations"] += operations
        for name, now in self.cpu().items():
            account[name] = account.get(name, 0.0) + now - before[name]

    async def quiet(self, workflow_type: str, baseline: int = 0, limit: float | None = None) -> float:
        """Wait until no more than `baseline` workflows of this type run: the workers caught up."""
        query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
        begin = time.perf_counter()
        limit = limit or self.options.catch_up_limit
        while (left := (await self.client.count_workflows(query)).count) > baseline:
            if time.perf_counter() - begin > limit:
                log(f"  {left - baseline} {workflow_type} still running after {limit:.0f} s; going on")
                break
            await asyncio.sleep(0.2)
        return time.perf_counter() - begin

    async def running(self, workflow_type: str) -> int:
        query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
        return (await self.client.count_workflows(query)).count

    async def alternate(self, label: str, measure_slice, *, slices: int) -> tuple[Sample, Sample]:
        """The floor's raw signal-with-start and paysaga's webhooks, in alternating slices (the
        machine's other load then weighs on both alike), each followed by its workers catching up."""
        baseline = self.payment_baseline
        raw_parts, webhook_parts = [], []
        for _ in range(slices):
            before = self.cpu()
            raw_parts.append(await measure_slice(self.floor.signal_with_start))
            self.caught_up(f"{label} raw", await self.quiet("BenchFloor"))
            self.charge(f"{label} raw", before, raw_parts[-1].ok)
            before = self.cpu()
            webhook_parts.append(await measure_slice(self.paysaga.webhook))
            self.caught_up(f"{label} webhooks", await self.quiet("PaymentWorkflow", baseline))
            self.charge(f"{label} webhooks", before, webhook_parts[-1].ok)
        raw, webhook = merged(raw_parts), merged(webhook_parts)
        log(f"  raw: {_summary(raw)}")
        log(f"  webhooks: {_summary(webhook)}")
        return raw, webhook

    def caught_up(self, label: str, seconds: float) -> None:
        self.result.catch_up[label] = self.result.catch_up.get(label, 0.0) + seconds


def _summary(sample: Sample) -> str:
    return (
        f"{sample.ok} ok, {sample.error_count} errors, {sample.rate:.1f}/s, "
        f"p50 {sample.p50 * 1000:.1f} ms, p99 {sample.p99 * 1000:.1f} ms"
    )


async def _floor(ctx: _Context) -> None:
    floor, options, result = ctx.floor, ctx.options, ctx.result
    c = options.concurrency
    log(f"floor: {options.floor_starts} starts, {c} in flight")
    result.floor["start"] = await closed_loop(floor.start, concurrency=c, count=options.floor_starts)
    log(f"  {_summary(result.floor['start'])}")
    log(f"floor: signalling the {len(floor.started)} started workflows, {c} in flight")
    result.floor["signal"] = await closed_loop(floor.signal, concurrency=c, count=len(floor.started))
    log(f"  {_summary(result.floor['signal'])}")
    ctx.caught_up("floor starts", await ctx.quiet("BenchFloor"))
    await _floor_complete(ctx)


async def _floor_complete(ctx: _Context) -> None:
    floor, options, result = ctx.floor, ctx.options, ctx.result
    log(f"floor: whole workflows (signal-with-start → activity → end), {options.saga_concurrency} in flight")
    before = ctx.cpu()
    result.floor["complete"] = await closed_loop(
        floor.complete, concurrency=options.saga_concurrency, duration=options.loop_seconds
    )
    ctx.charge("floor workflow", before, result.floor["complete"].ok)
    if floor.last_completed:
        result.work["floor workflow"] = await work_of(ctx.client, [floor.last_completed])
    log(f"  {_summary(result.floor['complete'])}")


async def _webhooks(ctx: _Context) -> None:
    options = ctx.options
    c, seconds = options.concurrency, options.loop_seconds / options.slices
    log(f"raw signal-with-start vs webhooks, {c} in flight, {options.loop_seconds:.0f} s each")
    raw, webhook = await ctx.alternate(
        "closed loop", lambda op: closed_loop(op, concurrency=c, duration=seconds), slices=options.slices
    )
    ctx.result.webhooks.update(raw=raw, webhook=webhook)


async def _rates(ctx: _Context) -> None:
    options = ctx.options
    seconds = options.rate_seconds / options.rate_slices
    for rate in options.rates:
        log(f"{rate}/s for {options.rate_seconds:.0f} s each: raw signal-with-start vs webhooks")
        raw, webhook = await ctx.alternate(
            # awaited before the loop moves on
            f"{rate}/s",
            lambda op: fixed_rate(op, rate=rate, duration=seconds),  # noqa: B023
            slices=options.rate_slices,
        )
        ctx.result.rates.append((rate, raw, webhook))


async def _sagas(ctx: _Context) -> None:
    paysaga, options, result = ctx.paysaga, ctx.options, ctx.result
    log(f"sagas one at a time ({options.low_load_sagas})")
    result.sagas["low"] = await closed_loop(paysaga.saga, concurrency=1, count=options.low_load_sagas)
    log(f"  {_summary(result.sagas['low'])}")
    log(f"sagas, {options.saga_concurrency} in flight, {options.saga_seconds:.0f} s")
    before = ctx.cpu()
    result.sagas["sustained"] = await closed_loop(
        paysaga.saga, concurrency=options.saga_concurrency, duration=options.saga_seconds
    )
    ctx.charge("saga", before, result.sagas["sustained"].ok)
    if paysaga.last_saga_workflows:
        result.work["saga"] = await work_of(ctx.client, paysaga.last_saga_workflows)
    log(f"  {_summary(result.sagas['sustained'])}")


async def _burst(ctx: _Context) -> None:
    paysaga, options, result = ctx.paysaga, ctx.options, ctx.result
    if paysaga.last_payment_id is None:
        await paysaga.saga(0)
    payment_id = paysaga.last_payment_id
    log(
        f"burst: {options.burst} duplicate webhooks of payment {payment_id}, {options.burst_concurrency} in flight,"
        " while new sagas run 2 at a time"
    )
    burst = asyncio.create_task(
        closed_loop(
            lambda i: paysaga.webhook(i, payment_id), concurrency=options.burst_concurrency, count=options.burst
        )
    )
    parts: list[Sample] = []

    async def buyer() -> None:
        while not burst.done():
            parts.append(await closed_loop(paysaga.saga, concurrency=1, count=1))

    begin = time.perf_counter()
    await asyncio.gather(buyer(), buyer())
    sagas = merged(parts)
    sagas.elapsed = time.perf_counter() - begin
    result.burst["webhooks"] = await burst
    result.burst["sagas"] = sagas
    log(f"  burst: {_summary(result.burst['webhooks'])}")
    log(f"  sagas during the burst: {_summary(sagas)}")


async def _ramp(running: BenchStack, ctx: _Context) -> None:
    result = ctx.result
    if "complete" not in result.floor:  # the floor the steps are measured against, in the same run
        await _floor_complete(ctx)
    floor_rate = result.floor["complete"].rate
    metrics_url = f"http://{HOST}:{running.config.worker_metrics_port}/metrics"
    completions = Completions(running.config.database)
    try:
        await _ramp_steps(running, ctx, completions, metrics_url, floor_rate)
    finally:
        await completions.close()
    log(f"  {knee_verdict(result.ramp)}")


async def _ramp_steps(
    running: BenchStack, ctx: _Context, completions: Completions, metrics_url: str, floor_rate: float
) -> None:
    options, result = ctx.options, ctx.result
    for buyers in options.ramp_buyers:
        log(f"ramp: {buyers} buyers at once, {options.ramp_warm_up:.0f} s warm-up + {options.ramp_seconds:.0f} s")
        result.ramp.append(
            await step(
                ctx.paysaga,
                completions,
                ctx.client,
                metrics_url,
                running.stack.processes["worker"].log_path,
                buyers=buyers,
                seconds=options.ramp_seconds,
                warm_up=options.ramp_warm_up,
            )
        )
        log(f"  {summary(result.ramp[-1], floor_rate)}")


async def _memory(running: BenchStack, ctx: _Context) -> None:
    paysaga, options, result = ctx.paysaga, ctx.options, ctx.result
    pids = {"worker": running.pid("worker"), "api": running.pid("api"), "temporal": running.pid("temporal")}
    for name, pid in pids.items():
        result.memory[f"{name}_before"] = resident_mb(pid)[0]
    n = options.open_workflows
    c = options.open_concurrency
    log(f"memory: opening {n} checkouts (awaiting payment), {c} in flight")
    opened = await closed_loop(paysaga.open_checkout, concurrency=c, count=n)
    log(f"  {_summary(opened)}")
    log(f"memory: activating {n} subscriptions (a timer each), {c} in flight")
    activated = await closed_loop(paysaga.activate_subscription, concurrency=c, count=n)
    log(f"  {_summary(activated)}")
    result.memory["checkouts_open"] = opened.ok
    result.memory["subscriptions_active"] = activated.ok
    for name, pid in pids.items():
        now, peak = resident_mb(pid)
        result.memory[f"{name}_after"], result.memory[f"{name}_peak"] = now, peak
    log("  resident MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in result.memory.items() if "_" in k))
