"""python -m sandbox: serve the local MercadoPago. Every option also reads SANDBOX_<NAME>."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from .app import create_app
from .config import SandboxConfig


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"SANDBOX_{name}", default)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    p.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(_env("PORT", "8090")))
    p.add_argument(
        "--public-url", default=_env("PUBLIC_URL"), help="base of init_point links (default http://HOST:PORT)"
    )
    p.add_argument(
        "--notification-url", default=_env("NOTIFICATION_URL"), help="where webhooks are delivered; empty: none are"
    )
    p.add_argument("--webhook-secret", default=_env("WEBHOOK_SECRET"), help="signs x-signature")
    p.add_argument(
        "--access-token",
        default=_env("ACCESS_TOKEN"),
        help="required bearer token; empty: any bearer token is accepted",
    )
    p.add_argument("--collector-id", type=int, default=int(_env("COLLECTOR_ID", "123456789")))
    p.add_argument(
        "--honor-preference-notification-url",
        action="store_true",
        default=_env("HONOR_PREFERENCE_NOTIFICATION_URL").lower() in ("1", "true", "yes"),
        help="deliver to a preference's own notification_url when it has one",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "info"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    public_url = (args.public_url or f"http://{args.host}:{args.port}").rstrip("/")
    config = SandboxConfig(
        public_url=public_url,
        notification_url=args.notification_url,
        webhook_secret=args.webhook_secret,
        access_token=args.access_token,
        collector_id=args.collector_id,
        honor_preference_notification_url=args.honor_preference_notification_url,
    )
    # the delivery log (each webhook attempt and its answer) next to uvicorn's access log
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    print(f"MercadoPago sandbox at {public_url} -> webhooks to {args.notification_url or '(none)'}", flush=True)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
