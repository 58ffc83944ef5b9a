"""What operators see in the Temporal UI: a checkout and its payment's workflow found together
by external reference, user or plan, each with a summary line (encrypted at rest, read here
through the same codec the UI's codec server uses)."""

from __future__ import annotations

from temporalio.client import Client

from config.settings import Settings
from config.temporal import data_converter
from tests.observability.observed import CURRENT_KEY, OLD_KEY
from tests.support.waiting import eventually


async def test_workflows_are_found_by_reference_and_read_with_a_summary(observed, purchase):
    settings = Settings(payload_encryption_key=CURRENT_KEY, payload_decryption_keys=OLD_KEY)
    client = await Client.connect(observed.config.temporal_address, data_converter=data_converter(settings))
    reference = purchase.checkout["externalReference"]
    expected = {f"checkout-{purchase.checkout['checkoutId']}", f"payment-{purchase.payment['id']}"}

    async def found():
        ids = {w.id async for w in client.list_workflows(f'ExternalReference = "{reference}"')}
        return ids if ids >= expected else None

    await eventually(found, timeout=15, what="the checkout and its payment's workflow listed by ExternalReference")
    by_user = {w.id async for w in client.list_workflows(f"UserId = {purchase.user_id} AND PlanId = 1")}
    assert expected <= by_user

    async with observed.running.api(purchase.user_id) as api:
        plan = next(p for p in (await api.get("/api/plans")).json() if p["id"] == 1)
    checkout = await client.get_workflow_handle(f"checkout-{purchase.checkout['checkoutId']}").describe()
    assert await checkout.static_summary() == (
        f"Checkout Pro: {plan['code']} ({plan['price']} {plan['currency']}) for user {purchase.user_id}"
    )
    payment = await client.get_workflow_handle(f"payment-{purchase.payment['id']}").describe()
    assert str(purchase.payment["id"]) in (await payment.static_summary() or "")
    subscription = await client.get_workflow_handle(f"subscription-user-{purchase.user_id}").describe()
    assert (await subscription.static_summary() or "").startswith(f"Subscription of user {purchase.user_id}")
