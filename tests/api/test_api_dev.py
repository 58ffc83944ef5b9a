"""The development-only surface: demo tokens and the storefront exist outside production only."""
from __future__ import annotations

from api.auth import decode_token
from devstack.stack import Stack, StackConfig
from tests.api.helpers import serve


async def test_dev_token_is_a_working_bearer_token(make_settings, db):
    settings = make_settings()
    async with serve(settings) as client:
        answer = await client.post("/api/dev/token", json={"userId": 7})
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
        assert answer.json()["userId"] == 7
        mine = await client.get("/api/subscriptions/user/7", headers={"Authorization": f"Bearer {token}"})
        theirs = await client.get("/api/subscriptions/user/8", headers={"Authorization": f"Bearer {token}"})
    assert decode_token(settings, token).user_id == 7
    assert mine.status_code == 404 and mine.json()["error"] == "subscription_not_found"  # authorized, none yet
    assert theirs.status_code == 403


async def test_dev_token_may_carry_the_admin_role_and_nothing_else(make_settings, db):
    settings = make_settings()
    async with serve(settings) as client:
        admin = await client.post("/api/dev/token", json={"userId": 9, "roles": ["admin"]})
        root = await client.post("/api/dev/token", json={"userId": 9, "roles": ["root"]})
        nobody = await client.post("/api/dev/token", json={"userId": 0})
    assert decode_token(settings, admin.json()["token"]).is_admin
    assert root.status_code == 422 and nobody.status_code == 422
    assert set(nobody.json()) == {"error", "message"}


async def test_storefront_is_served_with_its_scripts(make_settings, db):
    async with serve(make_settings()) as client:
        index = await client.get("/storefront/")
        script = await client.get("/storefront/js/api.js")
        back = await client.get("/storefront/return.html?result=success&collection_status=approved")
        bare = await client.get("/storefront")
        missing = await client.get("/storefront/nope.html")
    assert index.status_code == 200 and 'src="js/store.js"' in index.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert back.status_code == 200 and 'src="js/return.js"' in back.text
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/storefront/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_production_has_neither_dev_tokens_nor_the_storefront(make_settings, db):
    settings = make_settings(app_env="production")
    async with serve(settings) as client:
        token = await client.post("/api/dev/token", json={"userId": 1})
        page = await client.get("/storefront/")
        schema = (await client.get("/openapi.json")).json()
    assert token.status_code == 404 and token.json() == {"error": "not_found", "message": "Not Found"}
    assert page.status_code == 404
    assert not any(path.startswith("/api/dev") for path in schema["paths"])


async def test_dev_surface_is_documented_in_development(make_settings, db):
    async with serve(make_settings()) as client:
        schema = (await client.get("/openapi.json")).json()
    assert "/api/dev/token" in schema["paths"]


def test_embedded_run_sends_buyers_back_to_the_storefront(monkeypatch, tmp_path):
    for result in ("SUCCESS", "PENDING"):
        monkeypatch.delenv(f"MERCADOPAGO_{result}_URL", raising=False)
    monkeypatch.setenv("MERCADOPAGO_FAILURE_URL", "https://shop.example/failed")
    env = Stack(StackConfig(var_dir=tmp_path, api_port=8123)).app_env()
    assert env["MERCADOPAGO_SUCCESS_URL"] == "http://127.0.0.1:8123/storefront/return.html?result=success"
    assert env["MERCADOPAGO_PENDING_URL"] == "http://127.0.0.1:8123/storefront/return.html?result=pending"
    assert env["MERCADOPAGO_FAILURE_URL"] == "https://shop.example/failed"  # the environment wins
