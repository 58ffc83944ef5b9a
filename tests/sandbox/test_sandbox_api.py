"""The sandbox's MercadoPago API, driven through the real official SDK."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import requests
from mercadopago.config import RequestOptions

from sandbox import SandboxConfig, create_app

from .conftest import COLLECTOR_ID


def decimal_json(response: httpx.Response):
    return json.loads(response.text, parse_float=Decimal)


def test_preference_create_and_get(sdk, mp_sandbox):
    created = sdk.preference().create(
        {
            "items": [{"id": "1", "title": "Plan BASIC", "quantity": 1, "unit_price": 9.99, "currency_id": "ARS"}],
            "external_reference": "PLAN-1-USER-7-0badcafe",
            "back_urls": {"success": "http://shop.test/ok"},
            "auto_return": "approved",
        }
    )
    assert created["status"] == 201
    pref = created["response"]
    assert pref["id"].startswith(f"{COLLECTOR_ID}-") and len(pref["id"]) == len(str(COLLECTOR_ID)) + 37
    assert pref["init_point"] == f"{mp_sandbox.url}/checkout/v1/redirect?pref_id={pref['id']}"
    assert pref["sandbox_init_point"] == pref["init_point"]
    assert pref["collector_id"] == COLLECTOR_ID
    assert pref["date_created"].endswith("-04:00")
    assert pref["items"][0]["unit_price"] == 9.99

    got = sdk.preference().get(pref["id"])
    assert got["status"] == 200 and got["response"] == pref

    missing = sdk.preference().get(f"{COLLECTOR_ID}-{uuid.uuid4()}")
    assert missing["status"] == 404 and missing["response"]["error"] == "not_found"


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"title": "x", "quantity": 1, "unit_price": 0, "currency_id": "ARS"}],
        [{"title": "x", "quantity": 0, "unit_price": 5, "currency_id": "ARS"}],
        [{"title": "x", "quantity": 1, "unit_price": "abc", "currency_id": "ARS"}],
        [{"title": "x", "quantity": 1, "unit_price": "19.99", "currency_id": "ARS"}],  # JSON numbers only
    ],
)
def test_preference_validation(sdk, items):
    result = sdk.preference().create({"items": items})
    assert result["status"] == 400
    assert result["response"]["error"] == "bad_request" and result["response"]["status"] == 400
    assert result["response"]["cause"]


def test_bad_token_is_401(mp_sandbox, sdk_for):
    result = sdk_for("APP_USR-not-the-token").payment().get(1)
    assert result["status"] == 401
    assert result["response"] == {
        "message": "invalid access token",
        "error": "unauthorized",
        "status": 401,
        "cause": [],
    }
    assert httpx.get(f"{mp_sandbox.url}/v1/payments/1").status_code == 401  # no token at all


def test_pay_via_control_api_then_read_with_sdk(sdk, control, new_preference, mp_sandbox):
    pref = new_preference(unit_price=9.99, quantity=3)
    paid = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": "approved"})
    assert paid.status_code == 201
    payment_id = paid.json()["id"]
    assert isinstance(payment_id, int) and payment_id >= 1_300_000_000

    result = sdk.payment().get(payment_id)
    assert result["status"] == 200
    payment = result["response"]
    assert payment["status"] == "approved" and payment["status_detail"] == "accredited"
    assert payment["external_reference"] == pref["external_reference"]
    assert payment["currency_id"] == "ARS"
    assert payment["payment_method_id"] == "master" and payment["payment_type_id"] == "credit_card"
    assert payment["date_approved"] and payment["date_created"].endswith("-04:00")
    assert payment["payer"]["email"] == "buyer@example.com" and payment["payer"]["first_name"] == "Ana"
    assert payment["metadata"] == {"plan_id": 2, "user_id": 1}
    assert payment["refunds"] == [] and payment["transaction_amount_refunded"] == 0
    assert payment["order"]["type"] == "mercadopago" and payment["order"]["id"].isdigit()
    assert payment["live_mode"] is False and payment["collector_id"] == COLLECTOR_ID
    assert payment["operation_type"] == "regular_payment"

    # the amount is the exact decimal sum, written as a JSON number without float noise
    raw = control.get(
        f"/v1/payments/{payment_id}", headers={"Authorization": f"Bearer {mp_sandbox.config.access_token}"}
    )
    assert '"transaction_amount": 29.97,' in raw.text
    assert decimal_json(raw)["transaction_amount"] == Decimal("29.97")

    assert sdk.payment().get(payment_id + 100_000)["status"] == 404


def test_control_api_underpays_and_changes_currency(sdk, control, new_preference):
    pref = new_preference(unit_price=19.99)
    paid = control.post(
        "/sandbox/payments",
        json={"preference_id": pref["id"], "status": "pending", "amount": "9.99", "currency": "USD"},
    )
    payment = decimal_json(paid)
    assert payment["transaction_amount"] == Decimal("9.99") and payment["currency_id"] == "USD"
    assert payment["status_detail"] == "pending_waiting_payment" and payment["date_approved"] is None

    moved = control.post(f"/sandbox/payments/{payment['id']}/status", json={"status": "approved"})
    assert moved.json()["status"] == "approved" and moved.json()["date_approved"]
    assert sdk.payment().get(payment["id"])["response"]["status_detail"] == "accredited"

    assert control.post("/sandbox/payments", json={"preference_id": "nope"}).status_code == 404
    assert control.post(f"/sandbox/payments/{payment['id']}/status", json={"status": "paid"}).status_code == 400


async def test_buyer_page_and_pay_redirect_without_network():
    """The buyer flow over ASGI: the page, then each button's POST and where it sends the buyer."""
    app = create_app(SandboxConfig(public_url="http://mp.test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mp.test") as client:
        pref = (
            await client.post(
                "/checkout/preferences",
                headers={"Authorization": "Bearer any"},
                json={
                    "items": [
                        {
                            "id": "2",
                            "title": "Plan <STANDARD>",
                            "quantity": 1,
                            "unit_price": 19.99,
                            "currency_id": "ARS",
                        }
                    ],
                    "external_reference": "PLAN-2-USER-1-deadbeef",
                    "back_urls": {
                        "success": "http://shop.test/ok?from=mp",
                        "failure": "http://shop.test/ko",
                        "pending": "http://shop.test/wait",
                    },
                },
            )
        ).json()

        page = await client.get("/checkout/v1/redirect", params={"pref_id": pref["id"]})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        for element in ('id="approve"', 'id="reject"', 'id="pending"', "Plan &lt;STANDARD&gt;", "ARS 19.99"):
            assert element in page.text
        assert "<script" not in page.text and "http" not in page.text.split("<body>")[1]  # no external assets

        for outcome, target in (
            ("approved", "http://shop.test/ok"),
            ("rejected", "http://shop.test/ko"),
            ("pending", "http://shop.test/wait"),
        ):
            paid = await client.post("/checkout/v1/pay", data={"pref_id": pref["id"], "outcome": outcome})
            assert paid.status_code == 303
            location = urlsplit(paid.headers["location"])
            assert f"{location.scheme}://{location.netloc}{location.path}" == target
            query = dict(parse_qsl(location.query))
            assert query["collection_id"] == query["payment_id"] and query["payment_id"].isdigit()
            assert query["collection_status"] == query["status"] == outcome
            assert query["external_reference"] == "PLAN-2-USER-1-deadbeef"
            assert query["preference_id"] == pref["id"] and query["merchant_order_id"].isdigit()
            assert (query["payment_type"], query["site_id"], query["processing_mode"]) == (
                "credit_card",
                "MLA",
                "aggregator",
            )
            if outcome == "approved":
                assert query["from"] == "mp"  # the back_url's own query survives
            payment = app.state.sandbox.store.payment(query["payment_id"])
            assert payment["status"] == outcome

        # no back_url: a small page with the same values
        bare = (
            await client.post(
                "/checkout/preferences",
                headers={"Authorization": "Bearer any"},
                json={"items": [{"title": "x", "quantity": 1, "unit_price": 1, "currency_id": "ARS"}]},
            )
        ).json()
        done = await client.post("/checkout/v1/pay", data={"pref_id": bare["id"], "outcome": "rejected"})
        assert done.status_code == 200 and 'id="payment_id"' in done.text and "rejected" in done.text

        assert (await client.get("/checkout/v1/redirect", params={"pref_id": "missing"})).status_code == 404


def test_search_by_external_reference(sdk, control, new_preference):
    pref = new_preference(external_reference="PLAN-2-USER-9-00000001")
    other = new_preference(external_reference="PLAN-2-USER-9-00000002")
    first = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": "rejected"}).json()
    second = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    control.post("/sandbox/payments", json={"preference_id": other["id"]})

    found = sdk.payment().search(
        {"external_reference": pref["external_reference"], "sort": "date_created", "criteria": "desc"}
    )
    assert found["status"] == 200
    assert found["response"]["paging"]["total"] == 2
    assert [p["id"] for p in found["response"]["results"]] == [second["id"], first["id"]]

    approved = sdk.payment().search({"external_reference": pref["external_reference"], "status": "approved"})
    assert [p["id"] for p in approved["response"]["results"]] == [second["id"]]

    page = sdk.payment().search({"sort": "date_created", "criteria": "asc", "limit": 1, "offset": 1})
    assert page["response"]["paging"] == {"total": 3, "limit": 1, "offset": 1}
    assert [p["id"] for p in page["response"]["results"]] == [second["id"]]

    recent = sdk.payment().search({"range": "date_created", "begin_date": "NOW-1DAYS", "end_date": "NOW"})
    assert recent["response"]["paging"]["total"] == 3


def test_full_and_partial_refunds_with_idempotency(sdk, control, new_preference):
    pref = new_preference(unit_price=19.99)
    full = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    refund = sdk.refund().create(full["id"])
    assert refund["status"] == 201
    assert refund["response"]["amount"] == 19.99 and refund["response"]["status"] == "approved"
    assert refund["response"]["payment_id"] == full["id"]
    payment = sdk.payment().get(full["id"])["response"]
    assert (payment["status"], payment["status_detail"]) == ("refunded", "refunded")
    assert payment["transaction_amount_refunded"] == 19.99 and len(payment["refunds"]) == 1

    partial = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    first = sdk.refund().create(partial["id"], {"amount": 5})
    assert first["status"] == 201 and first["response"]["amount"] == 5
    payment = sdk.payment().get(partial["id"])["response"]
    assert (payment["status"], payment["status_detail"]) == ("approved", "partially_refunded")
    assert payment["transaction_amount_refunded"] == 5

    options = RequestOptions(custom_headers={"x-idempotency-key": "refund-rest-of-" + str(partial["id"])})
    rest = sdk.refund().create(partial["id"], request_options=options)
    replay = sdk.refund().create(partial["id"], request_options=options)
    assert rest["status"] == replay["status"] == 201
    assert replay["response"] == rest["response"] and rest["response"]["amount"] == 14.99
    payment = sdk.payment().get(partial["id"])["response"]
    assert payment["status"] == "refunded" and len(payment["refunds"]) == 2
    listed = sdk.refund().list_all(partial["id"])["response"]
    assert [r["id"] for r in listed] == [first["response"]["id"], rest["response"]["id"]]
    assert sdk.refund().get(partial["id"], rest["response"]["id"])["response"] == rest["response"]

    # nothing left to refund, and a rejected payment cannot be refunded
    assert sdk.refund().create(partial["id"])["status"] == 400
    rejected = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": "rejected"}).json()
    assert sdk.refund().create(rejected["id"])["response"]["error"] == "bad_request"


def test_preference_idempotency_key(sdk):
    options = RequestOptions(custom_headers={"x-idempotency-key": "checkout-42-create-preference"})
    body = {"items": [{"title": "Plan BASIC", "quantity": 1, "unit_price": 9.99, "currency_id": "ARS"}]}
    first = sdk.preference().create(body, request_options=options)
    again = sdk.preference().create(body, request_options=options)
    assert first["status"] == again["status"] == 201 and first["response"]["id"] == again["response"]["id"]
    assert sdk.preference().create(body)["response"]["id"] != first["response"]["id"]


def test_fail_knob_makes_the_sdk_see_errors_and_timeouts(sdk, control, new_preference):
    pref = new_preference()
    payment_id = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()["id"]

    control.post("/sandbox/knobs", json={"fail": {"get_payment": {"status": 500, "count": 2}}}).raise_for_status()
    assert sdk.payment().get(payment_id)["status"] == 500
    assert sdk.payment().get(payment_id)["status"] == 500
    assert sdk.payment().get(payment_id)["status"] == 200

    control.post("/sandbox/knobs", json={"fail": {"create_preference": {"status": 503, "count": -1}}})
    assert sdk.preference().create({"items": [{"title": "x", "quantity": 1, "unit_price": 1}]})["status"] == 503
    assert control.get("/sandbox/knobs").json()["fail"]["create_preference"]["count"] == -1
    control.post("/sandbox/knobs", json={"fail": {"create_preference": None}})
    assert sdk.preference().create({"items": [{"title": "x", "quantity": 1, "unit_price": 1}]})["status"] == 201

    # a delay longer than the client's timeout looks like MercadoPago hanging
    control.post("/sandbox/knobs", json={"fail": {"search_payments": {"status": None, "delay_ms": 400}}})
    with pytest.raises(requests.exceptions.Timeout):
        sdk.payment().search({"external_reference": "x"}, request_options=RequestOptions(connection_timeout=0.1))
    assert sdk.payment().search({"external_reference": "x"})["status"] == 200

    control.post("/sandbox/knobs", json={"fail": {"refund": {"status": 500}}})
    assert sdk.refund().create(payment_id)["status"] == 500
    assert sdk.refund().create(payment_id)["status"] == 201


def test_knobs_are_merged_validated_and_reset(control):
    assert control.post("/sandbox/knobs", json={"duplicates": 2, "ipn": True}).status_code == 200
    assert control.post("/sandbox/knobs", json={"reorder": True}).json()["duplicates"] == 2
    for bad in ({"nope": 1}, {"duplicates": -1}, {"fail": {"teleport": {"status": 500}}}, {"drop": "yes"}):
        assert control.post("/sandbox/knobs", json=bad).status_code == 400, bad
    knobs = control.post("/sandbox/reset").json()["knobs"]
    assert knobs["duplicates"] == 0 and knobs["ipn"] is False and knobs["fail"] == {}
    assert knobs["retry_delays_ms"] == [500, 1000, 2000, 4000, 8000]
    assert control.get("/healthz").json() == {"status": "ok"}


def test_merchant_order_lists_the_preference_payments(sdk, control, new_preference):
    pref = new_preference(unit_price=10)
    rejected = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": "rejected"}).json()
    approved = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    assert rejected["order"]["id"] == approved["order"]["id"]
    order = sdk.merchant_order().get(approved["order"]["id"])
    assert order["status"] == 200
    assert order["response"]["order_status"] == "paid" and order["response"]["preference_id"] == pref["id"]
    assert [p["id"] for p in order["response"]["payments"]] == [rejected["id"], approved["id"]]


def test_cancel_a_pending_payment(sdk, control, new_preference):
    pref = new_preference()
    pending = control.post("/sandbox/payments", json={"preference_id": pref["id"], "status": "pending"}).json()
    cancelled = sdk.payment().update(pending["id"], {"status": "cancelled"})
    assert cancelled["status"] == 200 and cancelled["response"]["status"] == "cancelled"
    approved = control.post("/sandbox/payments", json={"preference_id": pref["id"]}).json()
    assert sdk.payment().update(approved["id"], {"status": "cancelled"})["status"] == 400


def test_cli_options_fall_back_to_environment(monkeypatch):
    from sandbox.__main__ import parse_args

    monkeypatch.setenv("SANDBOX_PORT", "9999")
    monkeypatch.setenv("SANDBOX_WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("SANDBOX_HONOR_PREFERENCE_NOTIFICATION_URL", "true")
    args = parse_args(["--access-token", "TOKEN", "--collector-id", "42"])
    assert (args.port, args.webhook_secret, args.access_token, args.collector_id) == (9999, "from-env", "TOKEN", 42)
    assert args.honor_preference_notification_url is True and args.host == "127.0.0.1"
