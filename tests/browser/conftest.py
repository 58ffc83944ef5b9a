"""The storefront in a real browser: its own stack on SQLite, headless Chromium through Playwright.

Chromium is the system's (`/usr/bin/chromium`, Debian's package); Playwright never downloads a
browser here. Without it the tests skip, unless PAYSAGA_REQUIRE_BROWSER is set (CI): then they fail.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest

from config.settings import DEFAULT_PLANS_FILE, PROJECT_ROOT
from tests.support.databases import sqlite_url
from tests.support.stack import RunningStack, started_stack

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = "PAYSAGA_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"

# what a visitor of the demo sees: the bundled catalogue; checkouts that wait for a slow test
BROWSER_STACK_ENV = {"PLANS_FILE": str(DEFAULT_PLANS_FILE), "CHECKOUT_DEADLINE": "PT5M", "DEV_ROUTES": "1"}

_user_ids = itertools.count(3000)


# module scope: the stack and the browser are gone before the next test module starts its own
@pytest.fixture(scope="module")
def storefront_stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("stack-browser")
    stack = started_stack(var_dir, sqlite_url(var_dir), env=BROWSER_STACK_ENV)
    try:
        yield RunningStack(stack, "sqlite")
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser, request):
    """A fresh browser profile per test; JavaScript errors on any page fail the test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if _is_script_error(message) else None)
    try:
        yield page
        assert not errors, f"errors in the browser console: {errors}"
    finally:
        if getattr(request.node, "failed_call", False):
            await page.screenshot(path=str(screenshot_path(request.node.name, "failure")), full_page=True)
        await context.close()


def _is_script_error(message) -> bool:
    # Chromium logs every 4xx answer as "Failed to load resource"; the page expects some (404: no
    # subscription yet) and shows the others itself
    return message.type == "error" and not message.text.startswith("Failed to load resource")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True  # the `page` fixture then keeps a screenshot of the failure
    return report


def screenshot_path(test_name: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name)}-{step}.png"


@pytest.fixture
def shoot(page, request):
    """`await shoot("step")` saves a full-page screenshot into test-artifacts/browser/."""

    async def take(step: str) -> Path:
        path = screenshot_path(request.node.name, step)
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def user_id() -> int:
    return next(_user_ids)
