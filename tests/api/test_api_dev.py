"""The development-only surface: demo tokens and the storefront exist only when DEV_ROUTES=1 asks
for them (the embedded run does), and never in production."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from api.auth import decode_token
from devstack.__main__ import parse_args
from devstack.processes import ManagedProcess, free_port, http_ready
from devstack.stack import Stack, StackConfig
from tests.api.helpers import serve

PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def test_dev_token_is_a_working_bearer_token(make_settings, db):
    settings = make_settings(dev_routes=True)
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
    settings = make_settings(dev_routes=True)
    async with serve(settings) as client:
        admin = await client.post("/api/dev/token", json={"userId": 9, "roles": ["admin"]})
        root = await client.post("/api/dev/token", json={"userId": 9, "roles": ["root"]})
        nobody = await client.post("/api/dev/token", json={"userId": 0})
    assert decode_token(settings, admin.json()["token"]).is_admin
    assert root.status_code == 422 and nobody.status_code == 422
    assert set(nobody.json()) == {"error", "message"}


async def test_storefront_is_served_with_its_scripts(make_settings, db):
    async with serve(make_settings(dev_routes=True)) as client:
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
    # even asked for (load_settings refuses this pair; an app built with it still mounts nothing)
    settings = make_settings(app_env="production", dev_routes=True, api_docs=True)
    async with serve(settings) as client:
        token = await client.post("/api/dev/token", json={"userId": 1})
        page = await client.get("/storefront/")
        schema = (await client.get("/openapi.json")).json()
    assert token.status_code == 404 and token.json() == {"error": "not_found", "message": "Not Found"}
    assert page.status_code == 404
    assert not any(path.startswith("/api/dev") for path in schema["paths"])


@pytest.mark.parametrize("app_env", ["development", "staging"])
async def test_without_dev_routes_there_are_no_dev_tokens_in_any_environment(make_settings, db, app_env):
    async with serve(make_settings(app_env=app_env)) as client:
        token = await client.post("/api/dev/token", json={"userId": 1, "roles": ["admin"]})
        page = await client.get("/storefront/")
        schema = (await client.get("/openapi.json")).json()
    assert token.status_code == 404 and token.json() == {"error": "not_found", "message": "Not Found"}
    assert page.status_code == 404
    assert not any(path.startswith("/api/dev") for path in schema["paths"])


async def test_dev_routes_work_in_staging_when_asked_for(make_settings, db):
    async with serve(make_settings(app_env="staging", dev_routes=True)) as client:
        token = await client.post("/api/dev/token", json={"userId": 1})
    assert token.status_code == 200


def test_the_real_api_process_has_no_dev_token_in_staging(tmp_path, closed_port):
    """`uvicorn api.main:app` as compose runs it by default: APP_ENV=staging and no DEV_ROUTES."""
    port = free_port()
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    env = {
        **kept,
        "APP_ENV": "staging",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{closed_port}",
    }
    api = ManagedProcess(
        name="api",
        argv=[sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        log_path=tmp_path / "api.log",
        ready=http_ready(f"http://127.0.0.1:{port}/healthz"),
    )
    api.start()
    try:
        token = httpx.post(f"http://127.0.0.1:{port}/api/dev/token", json={"userId": 1, "roles": ["admin"]}, timeout=5)
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
    finally:
        api.stop()
    assert token.status_code == 404 and token.json()["error"] == "not_found"
    assert "/api/dev/token" not in schema["paths"] and "/api/plans" in schema["paths"]


async def test_dev_surface_is_documented_when_enabled(make_settings, db):
    async with serve(make_settings(dev_routes=True)) as client:
        schema = (await client.get("/openapi.json")).json()
    assert "/api/dev/token" in schema["paths"]


def test_the_embedded_run_enables_the_dev_surface_and_other_stacks_do_not(tmp_path):
    run = parse_args(["--var-dir", str(tmp_path)])
    assert run.dev_routes and Stack(run).app_env()["DEV_ROUTES"] == "1"
    assert Stack(StackConfig(var_dir=tmp_path)).app_env().get("DEV_ROUTES") != "1"


def test_embedded_run_sends_buyers_back_to_the_storefront(monkeypatch, tmp_path):
    for result in ("SUCCESS", "PENDING"):
        monkeypatch.delenv(f"MERCADOPAGO_{result}_URL", raising=False)
    monkeypatch.setenv("MERCADOPAGO_FAILURE_URL", "https://shop.example/failed")
    env = Stack(StackConfig(var_dir=tmp_path, api_port=8123)).app_env()
    assert env["MERCADOPAGO_SUCCESS_URL"] == "http://127.0.0.1:8123/storefront/return.html?result=success"
    assert env["MERCADOPAGO_PENDING_URL"] == "http://127.0.0.1:8123/storefront/return.html?result=pending"
    assert env["MERCADOPAGO_FAILURE_URL"] == "https://shop.example/failed"  # the environment wins


async def test_dev_tokens_never_outlive_the_maximum_lifetime(make_settings, db):
    settings = make_settings(dev_routes=True, auth_max_token_lifetime="PT1H")
    async with serve(settings) as client:
        token = (await client.post("/api/dev/token", json={"userId": 7})).json()["token"]
        mine = await client.get("/api/subscriptions/user/7", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 404 and mine.json()["error"] == "subscription_not_found"  # accepted, none yet
