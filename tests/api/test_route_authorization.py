"""Who may call what: every route of the app, as anonymous, the owner, another user and an admin.

The table must name every route the app serves: a new route fails this test until someone
decides who may call it. Temporal is down here (a closed port), so an allowed call that needs it
answers 503; what matters is that nobody gets past 401/403 who should not, and that nothing 500s.
"""

from __future__ import annotations

import base64

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from api.main import create_app
from tests.api.helpers import ADMIN, ALICE, BOB, bearer, serve

PUBLIC, OWNER, ADMIN_ONLY, SIGNED = "public", "owner", "admin", "signed"
ROLES = ("anonymous", "owner", "other", "admin")

# (method, path template) -> (who may call it, how to call it for ALICE's data)
ROUTES = {
    ("GET", "/openapi.json"): (PUBLIC, lambda s: ("/openapi.json", None)),
    ("GET", "/docs"): (PUBLIC, lambda s: ("/docs", None)),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, lambda s: ("/docs/oauth2-redirect", None)),
    ("GET", "/redoc"): (PUBLIC, lambda s: ("/redoc", None)),
    ("GET", "/api/plans"): (PUBLIC, lambda s: ("/api/plans", None)),
    ("POST", "/api/payments/checkout"): (OWNER, lambda s: ("/api/payments/checkout", {"userId": ALICE, "planId": 1})),
    ("GET", "/api/payments/user/{userId}"): (OWNER, lambda s: (f"/api/payments/user/{ALICE}", None)),
    ("GET", "/api/payments/user/{userId}/approved"): (OWNER, lambda s: (f"/api/payments/user/{ALICE}/approved", None)),
    ("GET", "/api/payments/{paymentId}"): (OWNER, lambda s: (f"/api/payments/{s.alice_approved}", None)),
    ("GET", "/api/checkouts/{checkoutId}"): (OWNER, lambda s: (f"/api/checkouts/{s.alice_checkout}", None)),
    ("GET", "/api/subscriptions/user/{userId}"): (OWNER, lambda s: (f"/api/subscriptions/user/{ALICE}", None)),
    ("GET", "/api/subscriptions/user/{userId}/active"): (
        OWNER,
        lambda s: (f"/api/subscriptions/user/{ALICE}/active", None),
    ),
    ("POST", "/api/subscriptions/{subscriptionId}/cancel"): (
        OWNER,
        lambda s: (f"/api/subscriptions/{s.alice_subscription}/cancel", None),
    ),
    ("POST", "/api/webhooks/mercadopago"): (SIGNED, lambda s: ("/api/webhooks/mercadopago?type=payment&data.id=1", {})),
    ("GET", "/healthz"): (PUBLIC, lambda s: ("/healthz", None)),
    ("GET", "/readyz"): (PUBLIC, lambda s: ("/readyz", None)),
    ("GET", "/metrics"): (PUBLIC, lambda s: ("/metrics", None)),
    ("GET", "/api/events"): (ADMIN_ONLY, lambda s: ("/api/events", None)),
    ("POST", "/api/events/redeliver-parked"): (ADMIN_ONLY, lambda s: ("/api/events/redeliver-parked", None)),
    ("POST", "/api/events/{eventId}/redeliver"): (ADMIN_ONLY, lambda s: ("/api/events/1/redeliver", None)),
    ("POST", "/codec/decode"): (ADMIN_ONLY, lambda s: ("/codec/decode", {"payloads": []})),
    ("POST", "/codec/encode"): (ADMIN_ONLY, lambda s: ("/codec/encode", {"payloads": []})),
    # with DEV_ROUTES=1 only (absent otherwise and in production: tested below)
    ("POST", "/api/dev/token"): (PUBLIC, lambda s: ("/api/dev/token", {"userId": 5})),
    ("MOUNT", "/storefront"): (PUBLIC, lambda s: ("/storefront/", None)),
}


def served_routes(app) -> set[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            found.add(("MOUNT", route.path))
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            found.add((method, context.path))
    return found


def expected(access: str, role: str) -> str:
    if access == PUBLIC:
        return "allowed"
    if access == SIGNED:
        return "no signature"  # a bearer token is no proof of anything here
    if role == "anonymous":
        return "401"
    if access == ADMIN_ONLY:
        return "allowed" if role == "admin" else "403"
    return "403" if role == "other" else "allowed"


def outcome(status: int) -> str:
    if status in (401, 403):
        return str(status)
    assert status < 500 or status == 503, f"server error {status}"
    return "allowed"


async def test_the_table_names_every_route(make_settings):
    settings = make_settings(dev_routes=True)
    app = create_app(settings)
    async with serve(settings, app):
        assert served_routes(app) == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
async def test_every_route_for_every_role(make_settings, seed, role):
    settings = make_settings(dev_routes=True)
    headers = {
        "anonymous": {},
        "owner": bearer(settings, ALICE),
        "other": bearer(settings, BOB),
        "admin": bearer(settings, ADMIN, roles=["admin"]),
    }[role]
    seen = {}
    async with serve(settings) as client:
        for (method, _), (access, call) in ROUTES.items():
            url, body = call(seed)
            response = await client.request("GET" if method == "MOUNT" else method, url, headers=headers, json=body)
            if access == SIGNED:
                assert response.status_code == 401 and response.json()["error"] == "invalid_signature", url
                seen[url] = "no signature"
                continue
            seen[url] = outcome(response.status_code)
            if response.status_code in (401, 403):
                assert set(response.json()) == {"error", "message"}, url
    assert seen == {call(seed)[0]: expected(access, role) for (access, call) in ROUTES.values()}


async def test_development_routes_are_absent_in_production(make_settings):
    settings = make_settings(
        app_env="production",
        mercadopago_webhook_secret="w" * 40,
        auth_jwt_secret="j" * 40,
        mercadopago_access_token="APP_USR-4927153802614739-061218-5c1f0e9a7b2d4c6e8f0a1b3c5d7e9f21-1160743707",
        mercadopago_notification_url="https://shop.example/api/webhooks/mercadopago",
        mercadopago_api_base_url="https://api.mercadopago.com",
        temporal_insecure_ok=True,
        payload_encryption_key="k1:" + base64.b64encode(b"p" * 32).decode(),
    )
    settings.model_copy(
        update={"database_url": "postgresql+asyncpg://paysaga_api:Zq8-Lr2-x7@db/paysaga"}
    ).check_production()
    app = create_app(settings)  # on the test's SQLite file: only the routes matter here
    async with serve(settings, app) as client:
        assert ("POST", "/api/dev/token") not in served_routes(app)
        assert ("MOUNT", "/storefront") not in served_routes(app)
        assert (await client.post("/api/dev/token", json={"userId": 1})).status_code == 404
        assert (await client.get("/storefront/")).status_code == 404
