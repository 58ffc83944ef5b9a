"""`python -m devstack`: run all of paysaga on this machine until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC
from pathlib import Path

from config.settings import DEV_JWT_SECRET
from devstack.processes import StartupError
from devstack.stack import Stack, StackConfig


def parse_args(argv: list[str]) -> StackConfig:
    defaults = StackConfig()
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--var-dir", type=Path, default=defaults.var_dir, help="where data and logs go")
    parser.add_argument("--database-url", default=None, help="default: SQLite in --var-dir")
    parser.add_argument("--temporal-port", type=int, default=defaults.temporal_port)
    parser.add_argument("--temporal-ui-port", type=int, default=defaults.temporal_ui_port)
    parser.add_argument("--sandbox-port", type=int, default=defaults.sandbox_port)
    parser.add_argument("--api-port", type=int, default=defaults.api_port)
    parser.add_argument("--worker-metrics-port", type=int, default=defaults.worker_metrics_port)
    args = parser.parse_args(argv)
    return StackConfig(
        var_dir=args.var_dir,
        database_url=args.database_url,
        temporal_port=args.temporal_port,
        temporal_ui_port=args.temporal_ui_port,
        temporal_db_file=args.var_dir / "temporal.db",  # workflows survive a restart of the stack
        sandbox_port=args.sandbox_port,
        api_port=args.api_port,
        worker_metrics_port=args.worker_metrics_port,
        dev_routes=True,  # a demo on this machine: the storefront and its demo tokens
    )


def dev_token(user_id: int) -> str:
    from datetime import datetime, timedelta

    import jwt

    expires = datetime.now(UTC) + timedelta(hours=8)  # within AUTH_MAX_TOKEN_LIFETIME's default
    return jwt.encode({"sub": str(user_id), "exp": expires}, DEV_JWT_SECRET, algorithm="HS256")


def print_banner(config: StackConfig) -> None:
    token = dev_token(1)
    api = config.api_url
    lines = [
        "paysaga is running (Ctrl-C stops everything)",
        f"  API            {api}   (docs: {api}/docs)",
        f"  Storefront     {api}/storefront/   (the whole purchase flow in a browser)",
        f"  Temporal UI    {config.temporal_ui_url or 'off'}",
        f"  Temporal       {config.temporal_address}",
        f"  MercadoPago    {config.sandbox_url}   (local sandbox)",
        f"  database       {config.database}",
        f"  logs           {config.var_dir / 'logs'}",
        "",
        "Try a checkout as user 1 (open the initPoint it returns, press Approve):",
        f"  curl -s -X POST {api}/api/payments/checkout -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' -d '{\"userId\": 1, \"planId\": 1}'",
        "then see the subscription:",
        f"  curl -s {api}/api/subscriptions/user/1 -H 'Authorization: Bearer {token}'",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str]) -> int:
    config = parse_args(argv)
    stack = Stack(config)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start()
    except StartupError as exc:
        print(f"paysaga: {exc}", file=sys.stderr)
        return 1
    try:
        print_banner(config)
        while not stopping.wait(1.0):
            for name, process in stack.processes.items():
                if not process.running:
                    print(f"paysaga: {name} stopped unexpectedly; see {process.log_path}", file=sys.stderr)
                    stopping.set()
    finally:
        print("stopping…", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
