"""The run as a Markdown table: one column per backend, targets and whether they were met."""

from __future__ import annotations

import math

from bench.load import Sample
from bench.ramp import RampStep, at_most, knee_verdict
from bench.run import BackendResult, Options

BACKEND_NAMES = {"sqlite": "embedded (SQLite)", "postgresql": "PostgreSQL"}


def _names(results: list[BackendResult]) -> list[str]:
    """A column's name: the backend, and the dev server's settings once some run had its defaults."""
    both = any(r.dev_server != "tuned" for r in results)
    return [BACKEND_NAMES.get(r.backend, r.backend) + (f", {r.dev_server} dev server" if both else "") for r in results]


def _ms(seconds: float) -> str:
    return "–" if math.isnan(seconds) else f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def _latency(sample: Sample | None) -> str:
    return "–" if sample is None or not sample.ok else f"{_ms(sample.p50)} / {_ms(sample.p99)} ms"


def _rate(sample: Sample | None) -> str:
    return "–" if sample is None else f"{sample.rate:.0f}/s"


def _errors(sample: Sample | None) -> str:
    if sample is None:
        return "–"
    if not sample.error_count:
        return "0"
    kinds = "; ".join(f"{n}× {kind}" for kind, n in sample.errors.most_common(2))
    return f"{sample.error_count} ({kinds})"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else " ✅" if ok else " ❌ short"


def _ratio(value: float, base: float, good) -> str:
    if not base or math.isnan(value) or math.isnan(base):
        return "–"
    ratio = value / base
    return f"{ratio:.2f}{_verdict(good(ratio))}"


def render(
    results: list[BackendResult], options: Options, machine: dict[str, str], versions: dict[str, str], command: str
) -> str:
    rows: list[tuple[str, list[str], str]] = []  # measure, one cell per backend, target

    def row(label: str, cell, target: str = "") -> None:
        rows.append((label, [cell(r) for r in results], target))

    c, sc = options.concurrency, options.saga_concurrency
    row("**Floor** (one signal, one no-op activity; own worker)", lambda r: "", "")
    row(f"start rate, {c} in flight", lambda r: _rate(r.floor.get("start")))
    row("signal latency p50 / p99", lambda r: _latency(r.floor.get("signal")))
    row(f"completed workflows, {sc} in flight", lambda r: _rate(r.floor.get("complete")))
    row(f"raw signal-with-start, {c} in flight", lambda r: _rate(r.webhooks.get("raw")))
    row("raw signal-with-start p50 / p99", lambda r: _latency(r.webhooks.get("raw")))

    row(f"**Webhook ack**, {c} in flight", lambda r: _rate(r.webhooks.get("webhook")), "")
    row("ack p50 / p99", lambda r: _latency(r.webhooks.get("webhook")))
    row("errors", lambda r: _errors(r.webhooks.get("webhook")), "0")
    row(
        "throughput ÷ raw signal-with-start",
        lambda r: _pair(r.webhooks, lambda w, raw: _ratio(w.rate, raw.rate, lambda x: x >= 0.70)),
        "≥ 0.70",
    )
    row(
        "p99 ÷ raw signal-with-start p99",
        lambda r: _pair(r.webhooks, lambda w, raw: _ratio(w.p99, raw.p99, lambda x: x <= 1.5)),
        "≤ 1.5",
    )
    for index, rate in enumerate(options.rates):
        row(f"{rate}/s for {options.rate_seconds:.0f} s: achieved, p50 / p99, errors", lambda r, i=index: _fixed(r, i))
        row(f"{rate}/s: p50 / p99 ÷ raw signal-with-start at {rate}/s", lambda r, i=index: _fixed_ratio(r, i))
    top = max(options.rates) if options.rates else None
    if top:
        row(
            f"held {top}/s for {options.rate_seconds:.0f} s with zero errors",
            lambda r: _held(r, top),
            "≥ 400/s for 30 s",
        )

    row(
        f"**End to end** (checkout → paid → ACTIVE), {sc} in flight, {options.saga_seconds:.0f} s",
        lambda r: _rate(r.sagas.get("sustained")),
    )
    row(
        "÷ floor's completed workflows/s",
        lambda r: (
            _ratio(r.sagas["sustained"].rate, r.floor["complete"].rate, lambda x: x >= 0.5)
            if "sustained" in r.sagas and "complete" in r.floor
            else "–"
        ),
        "≥ 0.50",
    )
    row("checkout → ACTIVE p50 / p99", lambda r: _latency(r.sagas.get("sustained")))
    row("errors", lambda r: _errors(r.sagas.get("sustained")), "0")
    row("checkout → ACTIVE p50 / p99, one at a time", lambda r: _low_load(r), "p50 < 300 ms")
    row(
        f"**Burst**: {options.burst} duplicate webhooks, {options.burst_concurrency} in flight",
        lambda r: _rate(r.burst.get("webhooks")),
    )
    row(
        "burst ack p50 / p99, errors",
        lambda r: _latency(r.burst.get("webhooks")) + ", " + _errors(r.burst.get("webhooks")) if r.burst else "–",
    )
    row("sagas during the burst (2 at a time): done, p50 / p99", lambda r: _burst_sagas(r), "complete")

    n = options.open_workflows
    row(f"**Memory**, {n} open checkouts + {n} active subscriptions", lambda r: "")
    row("worker resident (before → after; peak)", lambda r: _memory(r, "worker", limit=300), "< 300 MB")
    row("API resident (before → after; peak)", lambda r: _memory(r, "api"))
    row("Temporal dev server resident (before → after)", lambda r: _memory(r, "temporal"))
    row("workers catching up after the comparisons (floor / paysaga)", lambda r: _catch_up(r))
    row(
        "API event loop / HTTP parser",
        lambda r: " / ".join(name if used else f"no {name}" for name, used in r.api_libraries.items()),
    )
    row("run time", lambda r: f"{r.seconds:.0f} s")

    names = _names(results)
    lines = [f"Command: `{command}`", ""]
    lines += ["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "| versions | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in versions.items()]
    if set(options.phases) - {"ramp"}:
        lines += ["", "| measure | " + " | ".join(names) + " | target |", "|---|" + "---|" * len(names) + "---|"]
        lines += [f"| {label} | " + " | ".join(cells) + f" | {target} |" for label, cells, target in rows]
    lines += _ramp_tables(results, options)
    lines += _cpu_tables(results)
    lines += _work_tables(results)
    return "\n".join(lines) + "\n"


def _ramp_tables(results: list[BackendResult], options: Options) -> list[str]:
    """Per step of the ramp: throughput against the floor, checkout answers, refusals, timeouts, waits."""

    def rows(result: BackendResult) -> list[list[str]]:
        floor = result.floor.get("complete")
        return [_ramp_row(step, floor.rate if floor else 0.0) for step in result.ramp]

    lines = _per_backend(
        results,
        f"Load ramp, {{name}}: closed loop, {options.ramp_seconds:.0f} s a step after "
        f"{options.ramp_warm_up:.0f} s of warm-up (schedule-to-start p50 / p95 by task queue: "
        "the bucket of the worker's histogram they fall in)",
        [
            "buyers",
            "sagas/s",
            "÷ floor",
            "checkout p50 / p99",
            "refused (p99)",
            "errors",
            "workflow-task timeouts",
            '"not found"',
            "workflow task schedule-to-start",
            "activity schedule-to-start",
        ],
        rows,
    )
    for result, name in zip(results, _names(results), strict=True):
        if result.ramp:
            floor = result.floor.get("complete")
            lines += ["", f"{name}: {knee_verdict(result.ramp)}; the floor completed {_rate(floor)}."]
    return lines


def _ramp_row(step: RampStep, floor_rate: float) -> list[str]:
    refused = step.refusals
    return [
        str(step.buyers),
        f"{step.rate:.2f}",
        f"{step.rate / floor_rate:.2f}" if floor_rate else "–",
        _latency(step.checkouts),
        f"{refused.ok} ({_ms(refused.p99)} ms)" if refused.ok else "0",
        _errors(step.sagas),
        f"{step.task_timeouts} ({step.sticky_timeouts} sticky) of {step.workflows} workflows",
        "–" if step.not_found is None else str(step.not_found),
        _waits(step, "workflow task"),
        _waits(step, "activity"),
    ]


def _waits(step: RampStep, kind: str) -> str:
    cells = [
        f"{queue}: {at_most(p50)} / {at_most(p95)}"
        for (k, queue), (p50, p95) in sorted(step.schedule_to_start.items())
        if k == kind
    ]
    return "; ".join(cells) or "–"


def _work_tables(results: list[BackendResult]) -> list[str]:
    """The server's share of the gap: what one floor workflow and one saga ask of Temporal."""
    return _per_backend(
        results,
        "Temporal work per operation, {name} (counted from the histories)",
        ["operation", "workflows", "workflow tasks", "activity tasks", "local activities"],
        lambda result: [[label, *work.cells()] for label, work in result.work.items()],
    )


PROCESSES = ("temporal", "api", "worker", "sandbox", "floor worker", "bench")


def _cpu_tables(results: list[BackendResult]) -> list[str]:
    """Where the CPU goes: milliseconds of each process per operation (workers catching up included)."""

    def rows(result: BackendResult) -> list[list[str]]:
        body = []
        for label, account in result.cpu.items():
            n = account.get("operations") or 0
            if n:
                cells = [account.get(p, 0.0) * 1000 / n for p in PROCESSES]
                body.append([f"{label} ({n:.0f})", *(f"{c:.1f}" for c in cells), f"{sum(cells):.1f}"])
        return body

    return _per_backend(
        results,
        "CPU per operation, {name} (ms; Temporal is the dev server, bench is the load generator)",
        ["operation", *PROCESSES, "total"],
        rows,
    )


def _per_backend(results: list[BackendResult], title: str, header: list[str], rows) -> list[str]:
    """One table per backend, of the rows `rows(result)` gives (none: no table)."""
    lines: list[str] = []
    for result, name in zip(results, _names(results), strict=True):
        body = rows(result)
        if body:
            lines += ["", title.format(name=name), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def _pair(webhooks: dict[str, Sample], show) -> str:
    if "webhook" not in webhooks or "raw" not in webhooks:
        return "–"
    return show(webhooks["webhook"], webhooks["raw"])


def _fixed(result: BackendResult, index: int) -> str:
    if index >= len(result.rates):
        return "–"
    _, _, webhook = result.rates[index]
    return f"{webhook.rate:.0f}/s, {_latency(webhook)}, {_errors(webhook)}"


def _fixed_ratio(result: BackendResult, index: int) -> str:
    if index >= len(result.rates):
        return "–"
    _, raw, webhook = result.rates[index]
    if not webhook.ok or not raw.ok:
        return "–"
    return f"{webhook.p50 / raw.p50:.2f} / {webhook.p99 / raw.p99:.2f} (raw {_latency(raw)})"


def _held(result: BackendResult, rate: int) -> str:
    for wanted, _, webhook in result.rates:
        if wanted == rate:
            ok = webhook.rate >= 0.98 * rate and not webhook.error_count and webhook.p99 < 2.0
            return f"{webhook.rate:.0f}/s, {webhook.error_count} errors{_verdict(ok and rate >= 400)}"
    return "–"


def _low_load(result: BackendResult) -> str:
    low = result.sagas.get("low")
    if low is None or not low.ok:
        return "–"
    return _latency(low) + _verdict(low.p50 < 0.3)


def _burst_sagas(result: BackendResult) -> str:
    sagas = result.burst.get("sagas")
    if sagas is None:
        return "–"
    return f"{sagas.ok} done, {_latency(sagas)}, {_errors(sagas)}{_verdict(sagas.ok > 0 and not sagas.error_count)}"


_MIB = 1024 * 1024


def _memory(result: BackendResult, name: str, limit: float | None = None) -> str:
    m = result.memory
    if f"{name}_after" not in m:
        return "–"
    text = f"{m[f'{name}_before']:.0f} → {m[f'{name}_after']:.0f} MiB"
    if f"{name}_peak" in m and name != "temporal":
        text += f"; peak {m[f'{name}_peak']:.0f}"
    if limit is not None:
        # the target is in MB (10^6 bytes), resident figures are MiB; the peak is what must fit
        highest = m.get(f"{name}_peak", m[f"{name}_after"])
        text += f" ({highest * _MIB / 1e6:.0f} MB)" + _verdict(highest * _MIB < limit * 1e6)
    return text


def _catch_up(result: BackendResult) -> str:
    if not result.catch_up:
        return "–"
    floor = sum(v for k, v in result.catch_up.items() if k.endswith(" raw"))
    paysaga = sum(v for k, v in result.catch_up.items() if k.endswith(" webhooks"))
    return f"{floor:.1f} s / {paysaga:.1f} s"
