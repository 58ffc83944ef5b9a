"""python -m bench: measure paysaga against the floor of its Temporal server and print the table.

The full run (the defaults) takes about half an hour per backend; `--quick` two or three minutes.
The load ramp (`--phases ramp`) is asked for by name: about 10 minutes per backend and dev server.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench import machine as host
from bench.report import render
from bench.run import DEFAULT_PHASES, PHASES, Options, log, measure
from bench.stack import POSTGRES_ADMIN_URL, running
from devstack.stack import temporal_binary

QUICK = dict(
    floor_starts=500,
    rates=(50, 200),
    rate_seconds=5.0,
    loop_seconds=5.0,
    saga_seconds=8.0,
    low_load_sagas=8,
    burst=300,
    open_workflows=200,
    slices=1,
    catch_up_limit=30.0,
    ramp_buyers=(2, 8),
    ramp_seconds=10.0,
    ramp_warm_up=3.0,
)
DEV_SERVERS = ("tuned", "default")


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _names(allowed):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(x.strip() for x in text.split(",") if x.strip())
        unknown = set(names) - set(allowed)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown: {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})"
            )
        return names

    return parse


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, Options]:
    d = Options()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--backends",
        type=_names(("sqlite", "postgresql")),
        default=("sqlite", "postgresql"),
        help="read-model databases to run on, comma-separated [sqlite,postgresql]",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short phases and small numbers (about a minute per backend); explicit flags still win",
    )
    p.add_argument(
        "--phases",
        type=_names(PHASES),
        default=DEFAULT_PHASES,
        help=f"which measurements, comma-separated, of {','.join(PHASES)} [{','.join(DEFAULT_PHASES)}]",
    )
    p.add_argument(
        "--dev-server",
        type=_names(DEV_SERVERS),
        default=("tuned",),
        help="the Temporal dev server's settings, comma-separated: tuned (devstack's: SQLite in WAL mode, "
        "task queues read as work arrives), default (its own) [tuned]",
    )
    p.add_argument(
        "--ramp-buyers",
        type=_numbers,
        default=None,
        help=f"the ramp's steps, buyers at once, comma-separated [{','.join(map(str, d.ramp_buyers))}]",
    )
    p.add_argument("--ramp-seconds", type=float, default=None, help=f"each ramp step, measured [{d.ramp_seconds}]")
    p.add_argument(
        "--ramp-warm-up", type=float, default=None, help=f"before each ramp step, not counted [{d.ramp_warm_up}]"
    )
    p.add_argument(
        "--concurrency", type=int, default=d.concurrency, help=f"in flight: raw signals vs webhooks [{d.concurrency}]"
    )
    p.add_argument(
        "--saga-concurrency",
        type=int,
        default=d.saga_concurrency,
        help=f"sagas in flight, and the floor's workflows when counting completions [{d.saga_concurrency}]",
    )
    p.add_argument("--loop-seconds", type=float, default=None, help=f"each closed-loop comparison [{d.loop_seconds}]")
    p.add_argument(
        "--floor-starts",
        type=int,
        default=None,
        help=f"floor workflows started, then signalled, to time both [{d.floor_starts}]",
    )
    p.add_argument(
        "--rates",
        type=_numbers,
        default=None,
        help=f"webhooks per second, comma-separated [{','.join(map(str, d.rates))}]",
    )
    p.add_argument("--rate-seconds", type=float, default=None, help=f"each fixed rate [{d.rate_seconds}]")
    p.add_argument("--saga-seconds", type=float, default=None, help=f"sustained sagas [{d.saga_seconds}]")
    p.add_argument("--low-load-sagas", type=int, default=None, help=f"sagas one at a time [{d.low_load_sagas}]")
    p.add_argument("--burst", type=int, default=None, help=f"duplicate webhooks in the burst [{d.burst}]")
    p.add_argument(
        "--open",
        type=int,
        default=None,
        dest="open_workflows",
        help=f"open checkouts, and as many active subscriptions, for the memory figures [{d.open_workflows}]",
    )
    p.add_argument(
        "--slices",
        type=int,
        default=None,
        help=f"floor and paysaga alternate this many times in each comparison [{d.slices}]",
    )
    p.add_argument(
        "--rate-slices",
        type=int,
        default=None,
        help=f"floor and paysaga alternate this many times at each fixed rate [{d.rate_slices}]",
    )
    p.add_argument(
        "--catch-up-limit",
        type=float,
        default=None,
        help=f"seconds to wait for the workers to catch up after each slice [{d.catch_up_limit:.0f}]",
    )
    p.add_argument("--markdown", type=Path, default=None, help="also write the report to this file")
    p.add_argument(
        "--var-dir", type=Path, default=None, help="data and logs of the stacks (default: a temporary folder)"
    )
    args = p.parse_args(argv)
    values = {"concurrency": args.concurrency, "saga_concurrency": args.saga_concurrency, "phases": args.phases}
    if args.quick:
        values.update(QUICK)
    for name in (
        "floor_starts",
        "loop_seconds",
        "rates",
        "rate_seconds",
        "saga_seconds",
        "low_load_sagas",
        "burst",
        "open_workflows",
        "slices",
        "rate_slices",
        "catch_up_limit",
        "ramp_buyers",
        "ramp_seconds",
        "ramp_warm_up",
    ):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return args, Options(**values)


def _measuring(argv: list[str]) -> list[str]:
    """The arguments that change what is measured (not where the report or the logs go)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--markdown", "--var-dir"):
            skip = True
        elif not arg.startswith(("--markdown=", "--var-dir=")):
            kept.append(arg)
    return kept


def main(argv: list[str]) -> int:
    args, options = parse_args(argv)
    # a TERM stops the stacks as Ctrl-C does (their processes live in sessions of their own)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    command = " ".join(["python -m bench", shlex.join(_measuring(argv))]).strip()
    about = host.machine()
    versions = host.versions(temporal_binary())
    if "postgresql" in args.backends:
        versions["postgresql"] = asyncio.run(host.postgres_version(POSTGRES_ADMIN_URL))
    results = []
    with tempfile.TemporaryDirectory(prefix="paysaga-bench-") as scratch:
        base = args.var_dir or Path(scratch)
        for backend in args.backends:
            for dev_server in args.dev_server:
                print(f"{backend}, {dev_server} dev server: starting the stack", flush=True)
                var_dir = base / f"{backend}-{dev_server}-{time.strftime('%Y%m%d-%H%M%S')}"
                with running(backend, var_dir, temporal_tuned=dev_server == "tuned") as stack:
                    log(
                        f"API {stack.config.api_url}, Temporal {stack.config.temporal_address}, "
                        f"logs {stack.config.var_dir / 'logs'}"
                    )
                    results.append(asyncio.run(measure(stack, options)))
    about["load average (1/5/15 min, after)"] = " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())
    report = render(results, options, about, versions, command)
    print()
    print(report)
    if args.markdown:
        args.markdown.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
