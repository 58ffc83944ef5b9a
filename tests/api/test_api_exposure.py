"""What the API shows about itself: the interactive docs and the OpenAPI document (off in production
unless API_DOCS=1) and the Prometheus metrics (behind METRICS_TOKEN when it is set)."""

from __future__ import annotations

import base64
import logging
import os

import pytest

from api.main import create_app
from tests.api.helpers import serve

DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
METRICS_TOKEN = "m3tr1cs-" + "x" * 32


async def _statuses(settings) -> dict[str, int]:
    async with serve(settings) as client:
        return {path: (await client.get(path)).status_code for path in DOCS}


async def test_docs_are_served_outside_production(make_settings):
    assert set((await _statuses(make_settings())).values()) == {200}
    assert set((await _statuses(make_settings(app_env="staging"))).values()) == {200}


async def test_production_hides_the_docs_by_default(make_settings):
    settings = make_settings(app_env="production")
    async with serve(settings) as client:
        answers = {path: await client.get(path) for path in DOCS}
        plans = await client.get("/api/plans")
    for path, answer in answers.items():
        assert answer.status_code == 404, path
        assert answer.json() == {"error": "not_found", "message": "Not Found"}, path
    assert plans.status_code == 200


async def test_api_docs_decides_explicitly_in_any_environment(make_settings):
    assert set((await _statuses(make_settings(app_env="production", api_docs=True))).values()) == {200}
    assert set((await _statuses(make_settings(app_env="development", api_docs=False))).values()) == {404}


SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql+asyncpg://paysaga_api:Zq8-never-used-Lr2@127.0.0.1:9/paysaga",
    "MERCADOPAGO_WEBHOOK_SECRET": "w" * 40,
    "AUTH_JWT_SECRET": "j" * 40,
    "MERCADOPAGO_ACCESS_TOKEN": "APP_USR-4927153802614739-061218-5c1f0e9a7b2d4c6e8f0a1b3c5d7e9f21-1160743707",
    "MERCADOPAGO_NOTIFICATION_URL": "https://shop.example.com/api/webhooks/mercadopago",
    "TEMPORAL_ADDRESS": "127.0.0.1:9",
    "TEMPORAL_INSECURE_OK": "1",
    "PAYLOAD_ENCRYPTION_KEY": "k1:" + base64.b64encode(b"p" * 32).decode(),
}


@pytest.mark.parametrize("api_docs, expected", [(None, 404), ("1", 200)])
async def test_the_process_app_decides_once_its_settings_are_loaded(monkeypatch, api_docs, expected):
    """`uvicorn api.main:app` builds the app before it knows the settings: the lifespan decides."""
    for key in [k for k in os.environ if k.startswith(("APP_", "API_", "DEV_", "METRICS_"))]:
        monkeypatch.delenv(key)
    for key, value in {**SAFE_PRODUCTION, **({"API_DOCS": api_docs} if api_docs else {})}.items():
        monkeypatch.setenv(key, value)
    app = create_app()
    async with serve(None, app) as client:
        assert {path: (await client.get(path)).status_code for path in DOCS} == dict.fromkeys(DOCS, expected)
        assert (await client.get("/healthz")).status_code == 200


async def test_metrics_are_open_without_a_token(make_settings):
    async with serve(make_settings()) as client:
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"}, id="wrong"),
        pytest.param({"Authorization": f"Bearer {METRICS_TOKEN}x"}, id="longer"),
        pytest.param({"Authorization": f"Basic {METRICS_TOKEN}"}, id="not-bearer"),
        pytest.param({"Authorization": "Bearer"}, id="empty"),
    ],
)
async def test_metrics_token_is_required_when_set(make_settings, headers):
    async with serve(make_settings(metrics_token=METRICS_TOKEN)) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized" and set(response.json()) == {"error", "message"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert "paysaga_http_requests_total" not in response.text


async def test_metrics_with_the_token(make_settings):
    async with serve(make_settings(metrics_token=METRICS_TOKEN)) as client:
        response = await client.get("/metrics", headers={"Authorization": f"bearer {METRICS_TOKEN}"})
    assert response.status_code == 200 and "paysaga_http_requests_total" in response.text


@pytest.mark.parametrize("metrics_token, warnings", [(None, 1), (METRICS_TOKEN, 0)])
async def test_production_warns_once_when_metrics_are_open(make_settings, caplog, metrics_token, warnings):
    settings = make_settings(app_env="production", metrics_token=metrics_token)
    with caplog.at_level(logging.WARNING):
        async with serve(settings) as client:
            for _ in range(3):
                await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    found = [r for r in caplog.records if r.levelno == logging.WARNING and "METRICS_TOKEN" in r.getMessage()]
    assert len(found) == warnings
