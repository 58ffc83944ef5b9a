"""Webhook delivery: MercadoPago's format and signature, checked with the official validator, and
the knobs that reproduce its duplicates, IPNs, reordering, silence and retries."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import httpx
import pytest
from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator

from sandbox import SandboxConfig, create_app

from .conftest import SECRET


def pay(control, pref, status="approved") -> int:
    response = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": status})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def webhooks(receiver, payment_id, count=1, action=None):
    wanted = receiver.about(payment_id)
    return receiver.wait_for(
        lambda r: wanted(r) and "data.id" in r.query and (action is None or r.json["action"] == action), count
    )


async def eventually(check, timeout: float = 5.0) -> None:
    """Poll `check()` on the test's event loop, where ASGI-driven deliveries run."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def assert_signed(request, secret=SECRET):
    WebhookSignatureValidator.validate(
        request.headers["x-signature"], request.headers["x-request-id"], request.query["data.id"], secret
    )


def test_buyer_payment_sends_a_signed_webhook(control, receiver, new_preference, mp_sandbox, delivery_log):
    pref = new_preference()
    paid = control.post("/checkout/v1/pay", data={"pref_id": pref["id"], "outcome": "approved"})
    assert paid.status_code == 200  # no back_url: the "payment done" page
    payment_id = int(re.search(r'id="payment_id">(\d+)<', paid.text).group(1))

    [hook] = webhooks(receiver, payment_id)
    assert hook.path == "/api/webhooks/mercadopago"
    assert hook.query == {"source": "test", "data.id": str(payment_id), "type": "payment"}
    assert hook.headers["content-type"] == "application/json" and hook.headers["x-retry"] == "0"
    assert re.fullmatch(r"[0-9a-f-]{36}", hook.headers["x-request-id"])
    assert re.fullmatch(r"ts=\d{13},v1=[0-9a-f]{64}", hook.headers["x-signature"])
    body = hook.json
    assert body["action"] == "payment.created" and body["type"] == "payment" and body["api_version"] == "v1"
    assert body["data"] == {"id": str(payment_id)} and isinstance(body["id"], int)
    assert body["live_mode"] is False and body["user_id"] == str(mp_sandbox.config.collector_id)
    assert body["date_created"].endswith("Z")

    assert_signed(hook)
    with pytest.raises(InvalidWebhookSignatureError):
        assert_signed(hook, secret="another-secret")
    with pytest.raises(InvalidWebhookSignatureError):
        WebhookSignatureValidator.validate(
            hook.headers["x-signature"], hook.headers["x-request-id"], str(payment_id + 1), SECRET
        )

    log = delivery_log(payment_id)
    assert [(d["kind"], d["action"], d["status_code"], d["attempt"]) for d in log] == [
        ("webhook", "payment.created", 200, 1)
    ]
    assert log[0]["url"].endswith(f"?source=test&data.id={payment_id}&type=payment") and log[0]["at"]


def test_status_changes_and_refunds_send_payment_updated(sdk, control, receiver, new_preference):
    pref = new_preference()
    payment_id = pay(control, pref, "pending")
    webhooks(receiver, payment_id, action="payment.created")

    control.post(f"/sandbox/payments/{payment_id}/status", json={"status": "approved"}).raise_for_status()
    webhooks(receiver, payment_id, action="payment.updated")
    assert sdk.refund().create(payment_id, {"amount": 1})["status"] == 201
    updates = webhooks(receiver, payment_id, count=2, action="payment.updated")
    for hook in updates:
        assert_signed(hook)
    # a notification is only a hint: the payment read back shows what changed
    assert sdk.payment().get(payment_id)["response"]["status_detail"] == "partially_refunded"


def test_duplicates_knob(control, receiver, new_preference):
    control.post("/sandbox/knobs", json={"duplicates": 2}).raise_for_status()
    payment_id = pay(control, new_preference())
    copies = webhooks(receiver, payment_id, count=3)
    assert {c.json["action"] for c in copies} == {"payment.created"}
    assert len({c.headers["x-request-id"] for c in copies}) == 3
    for copy in copies:
        assert_signed(copy)


def test_ipn_and_merchant_order_knobs(control, receiver, new_preference, mp_sandbox, delivery_log):
    control.post("/sandbox/knobs", json={"ipn": True, "merchant_order": True}).raise_for_status()
    pref = new_preference()
    payment = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    order_id = payment["order"]["id"]
    is_order_ipn = lambda r: r.query.get("topic") == "merchant_order" and r.query.get("id") == order_id  # noqa: E731
    receiver.wait_for(is_order_ipn, count=2)
    seen = receiver.received(lambda r: receiver.about(payment["id"])(r) or is_order_ipn(r))
    assert [r.query.get("topic") or r.json["action"] for r in seen] == [
        "merchant_order",
        "payment",
        "payment.created",
        "merchant_order",
    ]  # MercadoPago's real sequence
    ipn = seen[1]
    assert ipn.query == {"source": "test", "topic": "payment", "id": str(payment["id"])}
    assert ipn.json == {"resource": f"{mp_sandbox.url}/v1/payments/{payment['id']}", "topic": "payment"}
    assert "x-signature" not in ipn.headers
    assert seen[0].json["resource"].endswith(f"/merchant_orders/{order_id}")
    kinds = [d["kind"] for d in delivery_log(payment["id"], 4)]
    assert kinds == ["ipn", "ipn", "webhook", "ipn"]


def test_reorder_knob_sends_updated_before_created(control, receiver, new_preference):
    control.post("/sandbox/knobs", json={"reorder": True}).raise_for_status()
    payment_id = pay(control, new_preference())
    hooks = webhooks(receiver, payment_id, count=2)
    assert [h.json["action"] for h in hooks] == ["payment.updated", "payment.created"]


def test_drop_knob_and_explicit_renotify(control, receiver, new_preference):
    control.post("/sandbox/knobs", json={"drop": True}).raise_for_status()
    silent = pay(control, new_preference())
    control.post("/sandbox/knobs", json={"drop": False}).raise_for_status()
    heard = pay(control, new_preference())
    webhooks(receiver, heard)  # scheduled after the dropped one: had it been sent, it would be here
    assert receiver.received(receiver.about(silent)) == []
    assert control.get("/sandbox/deliveries", params={"payment_id": silent}).json() == []

    # /notify delivers now, whatever the knobs say (the "late webhook" of reconciliation tests)
    control.post("/sandbox/knobs", json={"drop": True}).raise_for_status()
    answer = control.post(f"/sandbox/payments/{silent}/notify", json={"action": "payment.updated", "wait": True})
    assert answer.status_code == 202 and answer.json()["deliveries"][0]["status_code"] == 200
    [late] = webhooks(receiver, silent)
    assert late.json["action"] == "payment.updated"
    assert_signed(late)


def test_delay_knob(control, receiver, new_preference):
    control.post("/sandbox/knobs", json={"delay_ms": 300}).raise_for_status()
    pref = new_preference()
    started = time.monotonic()
    payment_id = pay(control, pref)
    answered = time.monotonic()
    [hook] = webhooks(receiver, payment_id)
    assert answered - started < 0.3  # the API answered without waiting for the delivery
    assert hook.at - started >= 0.3


def test_retries_after_503(control, receiver, new_preference, delivery_log):
    control.post("/sandbox/knobs", json={"retry_delays_ms": [50, 100, 100]}).raise_for_status()
    receiver.answer_next(503, 503)
    payment_id = pay(control, new_preference())
    attempts = webhooks(receiver, payment_id, count=3)
    assert [a.headers["x-retry"] for a in attempts] == ["0", "1", "2"]
    assert len({a.json["id"] for a in attempts}) == 1  # the same notification, retried
    assert len({a.headers["x-request-id"] for a in attempts}) == 3
    for attempt in attempts:
        assert_signed(attempt)
    log = delivery_log(payment_id, 3)
    assert [(d["attempt"], d["status_code"]) for d in log] == [(1, 503), (2, 503), (3, 200)]


async def test_unreachable_receiver_is_retried_then_given_up():
    """Connection refused counts as a failed attempt (status_code null), retried per the knob."""
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    app = create_app(SandboxConfig(public_url="http://mp.test", notification_url=dead_url, webhook_secret="s"))
    store = app.state.sandbox.store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mp.test") as client:
        await client.post("/sandbox/knobs", json={"retry_delays_ms": [10]})
        pref = (
            await client.post(
                "/checkout/preferences",
                headers={"Authorization": "Bearer x"},
                json={"items": [{"title": "x", "quantity": 1, "unit_price": 1}]},
            )
        ).json()
        payment_id = (await client.post("/sandbox/payments", json={"preference_id": pref["id"]})).json()["id"]
        await eventually(lambda: len(store.deliveries(payment_id)) >= 2)
        log = store.deliveries(payment_id)
        assert [(d["attempt"], d["status_code"]) for d in log] == [(1, None), (2, None)]
        assert log[0]["error"]
        await app.state.sandbox.notifier.aclose()


async def test_preference_notification_url_only_when_honored(receiver):
    """By default the configured URL wins (the SDK deprecates per-preference URLs); with the flag,
    a preference's own notification_url does, as at MercadoPago."""
    for honor, expected_path in ((False, "/configured"), (True, "/own")):
        app = create_app(
            SandboxConfig(
                public_url="http://mp.test",
                notification_url=f"{receiver.url}/configured",
                webhook_secret=SECRET,
                honor_preference_notification_url=honor,
            )
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mp.test") as client:
            pref = (
                await client.post(
                    "/checkout/preferences",
                    headers={"Authorization": "Bearer x"},
                    json={
                        "items": [{"title": "x", "quantity": 1, "unit_price": 1}],
                        "notification_url": f"{receiver.url}/own?route=abc",
                    },
                )
            ).json()
            payment_id = (await client.post("/sandbox/payments", json={"preference_id": pref["id"]})).json()["id"]
            await eventually(lambda: receiver.received(receiver.about(payment_id)))  # noqa: B023
            [hook] = receiver.received(receiver.about(payment_id))
            assert hook.path == expected_path
            assert_signed(hook)
            await app.state.sandbox.notifier.aclose()
