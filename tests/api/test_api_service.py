"""Health, readiness, metrics, CORS, the error shape, and how the app starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from api.main import create_app
from tests.api.helpers import ALICE, bearer, serve

PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def test_healthz(make_settings):
    async with serve(make_settings()) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_when_everything_is_up(make_settings, temporal_env, db):
    settings = make_settings(temporal_address=temporal_env.client.service_client.config.target_host)
    async with serve(settings) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "temporal": "ok"}


async def test_readyz_is_503_naming_temporal_when_it_is_down(make_settings, db):
    async with serve(make_settings()) as client:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert (body["database"], body["temporal"]) == ("ok", "unavailable")
    assert body["error"] == "not_ready" and "temporal" in body["message"]
    assert elapsed < 2


async def test_readyz_is_503_naming_the_database_when_it_is_down(make_settings, temporal_env, tmp_path):
    # a directory where the database file should be: SQLite cannot open it
    (tmp_path / "not-a-db").mkdir()
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'not-a-db'}",
        temporal_address=temporal_env.client.service_client.config.target_host,
    )
    async with serve(settings) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert (response.json()["database"], response.json()["temporal"]) == ("unavailable", "ok")


async def test_metrics_by_route_template(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        await client.get(f"/api/payments/{seed.alice_approved}", headers=bearer(settings, ALICE))
        await client.get("/no/such/path")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'paysaga_http_requests_total{method="GET",route="/api/payments/{paymentId}",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "paysaga_http_request_duration_seconds_bucket" in text
    assert "paysaga_checkouts_started_total" in text


async def test_two_apps_keep_separate_metrics(make_settings):
    settings = make_settings()
    async with serve(settings) as first, serve(settings) as second:
        await first.get("/healthz")
        text = (await second.get("/metrics")).text
    assert 'route="/healthz"' not in text


async def test_cors_allows_configured_origins_only(make_settings):
    settings = make_settings(cors_origins="https://app.example, https://admin.example")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with serve(settings) as client:
        allowed = await client.options(
            "/api/payments/checkout", headers={"Origin": "https://admin.example", **preflight}
        )
        refused = await client.options(
            "/api/payments/checkout", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await client.get("/api/plans", headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example"
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"


async def test_no_cors_by_default(make_settings):
    async with serve(make_settings()) as client:
        response = await client.get("/api/plans", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_errors_share_one_shape_and_hide_internals(make_settings):
    settings = make_settings()
    app = create_app(settings)

    async def explode():
        raise RuntimeError("SELECT secret FROM users -- Traceback")

    app.add_api_route("/explode", explode)
    async with serve(settings, app) as client:
        not_found = await client.get("/no/such/path")
        wrong_method = await client.delete("/api/plans")
        bad_json = await client.post(
            "/api/payments/checkout",
            content=b"{",
            headers={**bearer(settings, ALICE), "content-type": "application/json"},
        )
        internal = await client.get("/explode")
    assert not_found.status_code == 404 and not_found.json()["error"] == "not_found"
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert bad_json.status_code == 422 and bad_json.json()["error"] == "validation_error"
    assert internal.status_code == 500
    assert internal.json() == {"error": "internal_error", "message": "internal server error"}
    for response in (not_found, wrong_method, bad_json, internal):
        assert set(response.json()) == {"error", "message"}


def test_importing_the_app_does_no_io_and_bad_config_exits_with_one_line(tmp_path):
    env = {
        **os.environ,
        "APP_ENV": "production",
        "MERCADOPAGO_WEBHOOK_SECRET": "",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'never-created' / 'x.db'}",
    }
    env.pop("MERCADOPAGO_WEBHOOK_SECRET")
    imported = subprocess.run(
        [sys.executable, "-c", "import api.main; print(type(api.main.app).__name__)"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.returncode == 0 and imported.stdout.strip() == "FastAPI"
    assert not (tmp_path / "never-created").exists()

    server = subprocess.run(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--port", "0", "--log-level", "error"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "MERCADOPAGO_WEBHOOK_SECRET is required" in server.stderr
    assert "Traceback" not in server.stderr
