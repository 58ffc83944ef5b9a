"""The demo storefront: a plain HTML + JavaScript page that buys a plan the way a real frontend
does (plans, checkout, MercadoPago's buyer page, the return page, live status, cancel).

Static files only, no build step; the API serves them at `/storefront/` outside production.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
MOUNT_PATH = "/storefront"


def static_files() -> StaticFiles:
    # html=True: /storefront/ serves index.html
    return StaticFiles(directory=STATIC_DIR, html=True)


def return_url(api_url: str, result: str) -> str:
    """Where Checkout Pro sends the buyer back (`result` is success, failure or pending)."""
    return f"{api_url}{MOUNT_PATH}/return.html?result={result}"
