"""The storefront driven like a buyer would: headless Chromium against the real stack.

Approve: the return page shows the checkout COMPLETED and the subscription ACTIVE.
Reject: the checkout shows REJECTED and no subscription appears.
Cancel: from the storefront, the subscription becomes CANCELLED.
Screenshots of every step land in test-artifacts/browser/.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Page, expect

# the workflow, the sandbox's webhook and the page's polling together: seconds, not more
SETTLES = 30_000


async def sign_in(page: Page, stack, user_id: int, shoot=None) -> None:
    await page.goto(f"{stack.config.api_url}/storefront/")
    await expect(page.locator("#sign-in-panel")).to_be_visible()
    if shoot:
        await shoot("0-sign-in")
    await page.fill("#user-id", str(user_id))
    await page.click("#sign-in")
    await expect(page.locator("#signed-in-as")).to_have_text(f"user #{user_id}")
    async with stack.api() as api:
        catalogue = (await api.get("/api/plans")).json()
    await expect(page.locator(".plan")).to_have_count(len(catalogue))
    await expect(page.locator("#subscription-status")).to_have_text("NONE")


async def pay_on_mercadopago(page: Page, stack, plan_id: int, button: str, shoot) -> dict[str, list[str]]:
    """Subscribe to the plan, press `button` on the sandbox's buyer page; MercadoPago's return query."""
    await page.click(f"#subscribe-{plan_id}")
    await page.wait_for_url(re.compile(re.escape(stack.config.sandbox_url) + r"/checkout/"))
    await expect(page.locator(f"#{button}")).to_be_visible()
    await shoot("2-mercadopago")
    await page.click(f"#{button}")
    await page.wait_for_url(re.compile(r"/storefront/return\.html\?"))
    return parse_qs(urlsplit(page.url).query)


async def test_approved_payment_activates_the_subscription(page, storefront_stack, user_id, shoot):
    stack = storefront_stack
    await sign_in(page, stack, user_id, shoot)
    await shoot("1-plans")

    returned = await pay_on_mercadopago(page, stack, 1, "approve", shoot)
    assert returned["result"] == ["success"] and returned["collection_status"] == ["approved"]
    assert re.fullmatch(rf"PLAN-1-USER-{user_id}-[0-9a-f]{{8}}", returned["external_reference"][0])

    await expect(page.locator("#result")).to_have_text("Payment approved")
    await expect(page.locator("#checkout-status")).to_have_text("COMPLETED", timeout=SETTLES)
    await expect(page.locator("#subscription-status")).to_have_text("ACTIVE", timeout=SETTLES)
    await expect(page.locator("#subscription-card")).to_contain_text("Plan BASIC")
    await expect(page.locator("#checkout-payment")).to_have_text(re.compile(r"#\d+"))
    await expect(page.locator("#checkout-card .live")).to_contain_text("final")  # polling stopped
    await expect(page.locator("#mp-payment-id")).to_have_text(returned["payment_id"][0])
    await shoot("3-approved")

    async with stack.api(user_id) as api:
        subscription = (await api.get(f"/api/subscriptions/user/{user_id}")).json()
    assert (subscription["status"], subscription["planId"]) == ("ACTIVE", 1)


async def test_rejected_payment_shows_rejected_and_no_subscription(page, storefront_stack, user_id, shoot):
    stack = storefront_stack
    await sign_in(page, stack, user_id)

    returned = await pay_on_mercadopago(page, stack, 2, "reject", shoot)
    assert returned["result"] == ["failure"] and returned["collection_status"] == ["rejected"]

    await expect(page.locator("#result")).to_have_text("Payment rejected")
    await expect(page.locator("#checkout-status")).to_have_text("REJECTED", timeout=SETTLES)
    await expect(page.locator("#resume-checkout")).to_have_text("Pay again")
    await expect(page.locator("#subscription-status")).to_have_text("NONE")
    await expect(page.locator("#cancel-subscription")).to_be_hidden()
    await shoot("3-rejected")

    # the checkout has taken the rejected payment in: had it activated anything, it would be here
    async with stack.api(user_id) as api:
        assert (await api.get(f"/api/subscriptions/user/{user_id}")).status_code == 404
        payments = (await api.get(f"/api/payments/user/{user_id}")).json()
    assert [p["status"] for p in payments] == ["REJECTED"]


async def test_cancel_from_the_storefront_ends_the_subscription(page, storefront_stack, user_id, shoot):
    stack = storefront_stack
    await sign_in(page, stack, user_id)
    await pay_on_mercadopago(page, stack, 1, "approve", shoot)
    await expect(page.locator("#subscription-status")).to_have_text("ACTIVE", timeout=SETTLES)

    # back on the storefront the same tab still knows the user and the checkout
    await page.click("#back")
    await expect(page.locator("#shop")).to_be_visible()
    await expect(page.locator("#checkout-status")).to_have_text("COMPLETED")
    await expect(page.locator("#subscription-status")).to_have_text("ACTIVE")
    await shoot("3-active")

    await page.click("#cancel-subscription")
    await expect(page.locator("#subscription-status")).to_have_text("CANCELLED")
    await expect(page.locator("#subscription-notice")).to_contain_text("cancelled")
    await expect(page.locator("#cancel-subscription")).to_be_hidden()
    # the page lists the calls it made: the cancel is the last POST
    await page.click(".api-log summary")
    await expect(page.locator("#api-log li").filter(has_text="/cancel").first).to_contain_text("200")
    await shoot("4-cancelled")

    async with stack.api(user_id) as api:
        subscription = (await api.get(f"/api/subscriptions/user/{user_id}")).json()
    assert subscription["status"] == "CANCELLED"
    # the page keeps polling: a reload shows what the API says, still CANCELLED
    await page.reload()
    await expect(page.locator("#subscription-status")).to_have_text("CANCELLED")


BUSY = {"error": "checkout_busy", "message": "too many checkouts at once; retry with the same Idempotency-Key"}


async def _answer_busy(route, keys: list[str]) -> None:
    keys.append(route.request.headers.get("idempotency-key", ""))
    await route.fulfill(status=503, json=BUSY, headers={"Retry-After": "1"})


async def test_a_busy_checkout_is_retried_with_the_same_key_and_proceeds(page, storefront_stack, user_id, shoot):
    stack = storefront_stack
    await sign_in(page, stack, user_id)
    keys: list[str] = []
    answers: list[int] = []

    async def first_busy(route):
        if not keys:
            await _answer_busy(route, keys)  # the API's refusal when it is past saturation
            return
        keys.append(route.request.headers.get("idempotency-key", ""))
        answer = await route.fetch()  # the real API from the second try on
        answers.append((answer.status, await answer.json()))
        await route.fulfill(response=answer)

    await page.route("**/api/payments/checkout", first_busy)
    await page.click("#subscribe-1")
    # while it waits the Retry-After, the buyer sees why
    await expect(page.locator("#shop-notice")).to_contain_text("Busy, retrying in 1 s")
    await expect(page.locator("#subscribe-1")).to_have_text("Busy, retrying…")
    await shoot("1-busy-retrying")
    await page.wait_for_url(re.compile(re.escape(stack.config.sandbox_url) + r"/checkout/"))

    assert len(keys) == 2, keys
    assert keys[0] and keys[0] == keys[1], keys  # one purchase attempt, one key
    [(status, created)] = answers
    assert status == 201, created  # the first answer this checkout got: the refusal created nothing
    assert created["preferenceId"] in page.url  # the buyer is on MercadoPago's page for it
    async with stack.api(user_id) as api:
        checkout = (await api.get(f"/api/checkouts/{created['checkoutId']}")).json()
    assert checkout["status"] == "AWAITING_PAYMENT"


async def test_a_checkout_busy_on_every_try_ends_in_a_clear_error(page, storefront_stack, user_id, shoot):
    stack = storefront_stack
    await sign_in(page, stack, user_id)
    keys: list[str] = []
    await page.route("**/api/payments/checkout", lambda route: _answer_busy(route, keys))

    await page.click("#subscribe-2")
    notice = page.locator("#shop-notice")
    await expect(notice).to_contain_text("still busy after 5 tries", timeout=15_000)
    await expect(notice).to_have_attribute("data-kind", "error")
    await expect(page.locator("#subscribe-2")).to_have_text("Subscribe")
    await expect(page.locator("#subscribe-2")).to_be_enabled()
    await shoot("1-busy-gave-up")
    assert len(keys) == 5 and len(set(keys)) == 1, keys  # bounded, and all one purchase attempt
    assert "/storefront/" in page.url  # the buyer never left for MercadoPago
