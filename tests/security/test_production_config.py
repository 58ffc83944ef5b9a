"""APP_ENV=production refuses unsafe configuration: each case names its variable in one line, from
config.settings, from the worker's entry point and from the API's startup; `python worker.py` and
`uvicorn api.main:app` themselves exit non-zero with that line (a few cases, as real processes).
APP_ENV itself takes only `development`, `staging` or `production`, spelled exactly."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config.settings import DEV_EVENT_SECRET, DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, ConfigurationError, load_settings

ROOT = Path(__file__).resolve().parents[2]

DATABASE_PASSWORD = "d7Vq-3mZ9x-Lr2Pk8"
TEMPORAL_KEY = "t" * 40
# the shape of a real production access token: APP_USR-<app id>-<MMDDHH>-<32 hex>-<seller id>
PRODUCTION_TOKEN = "APP_USR-4927153802614739-061218-5c1f0e9a7b2d4c6e8f0a1b3c5d7e9f21-1160743707"

SAFE = {
    "APP_ENV": "production",
    "DATABASE_URL": f"postgresql+asyncpg://paysaga_api:{DATABASE_PASSWORD}@db.internal:5432/paysaga",
    "MERCADOPAGO_WEBHOOK_SECRET": "w" * 40,
    "AUTH_JWT_SECRET": "j" * 40,
    "MERCADOPAGO_ACCESS_TOKEN": PRODUCTION_TOKEN,
    "MERCADOPAGO_NOTIFICATION_URL": "https://shop.example.com/api/webhooks/mercadopago",
    "TEMPORAL_API_KEY": TEMPORAL_KEY,
    "PAYLOAD_ENCRYPTION_KEY": "k1:" + base64.b64encode(b"p" * 32).decode(),
}
SECRETS = ("w" * 40, "j" * 40, DATABASE_PASSWORD, TEMPORAL_KEY)

# variable named in the refusal -> what makes the configuration unsafe (None: unset)
CASES = {
    "no-webhook-secret": ("MERCADOPAGO_WEBHOOK_SECRET", {"MERCADOPAGO_WEBHOOK_SECRET": None}),
    "dev-webhook-secret": ("MERCADOPAGO_WEBHOOK_SECRET", {"MERCADOPAGO_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}),
    "no-jwt-secret": ("AUTH_JWT_SECRET", {"AUTH_JWT_SECRET": None}),
    "short-jwt-secret": ("AUTH_JWT_SECRET", {"AUTH_JWT_SECRET": "short"}),
    "dev-jwt-secret": ("AUTH_JWT_SECRET", {"AUTH_JWT_SECRET": DEV_JWT_SECRET}),
    "test-token": ("MERCADOPAGO_ACCESS_TOKEN", {"MERCADOPAGO_ACCESS_TOKEN": "TEST-123-abc"}),
    "default-token": ("MERCADOPAGO_ACCESS_TOKEN", {"MERCADOPAGO_ACCESS_TOKEN": None}),
    "http-notification-url": (
        "MERCADOPAGO_NOTIFICATION_URL",
        {"MERCADOPAGO_NOTIFICATION_URL": "http://shop.example.com/api/webhooks/mercadopago"},
    ),
    "http-api-base-url": ("MERCADOPAGO_API_BASE_URL", {"MERCADOPAGO_API_BASE_URL": "http://127.0.0.1:8090"}),
    "no-replay-window": ("WEBHOOK_TOLERANCE_SECONDS", {"WEBHOOK_TOLERANCE_SECONDS": "0"}),
    "tls-cert-without-key": ("TEMPORAL_TLS_CERT", {"TEMPORAL_TLS_CERT": "/etc/temporal/client.pem"}),
    "events-without-secret": ("EVENT_WEBHOOK_SECRET", {"EVENT_WEBHOOK_URLS": "https://crm.example.com/hooks"}),
    "dev-event-secret": (
        "EVENT_WEBHOOK_SECRET",
        {"EVENT_WEBHOOK_URLS": "https://crm.example.com/hooks", "EVENT_WEBHOOK_SECRET": DEV_EVENT_SECRET},
    ),
    "cors-wildcard": ("CORS_ORIGINS", {"CORS_ORIGINS": "*"}),
    "cors-http": ("CORS_ORIGINS", {"CORS_ORIGINS": "https://shop.example.com,http://shop.example.com"}),
    "ui-origin-http": ("TEMPORAL_UI_ORIGIN", {"TEMPORAL_UI_ORIGIN": "http://temporal.internal:8233"}),
    "audit-kept-shorter": ("AUDIT_RETENTION_DAYS", {"RETENTION_DAYS": "90", "AUDIT_RETENTION_DAYS": "30"}),
    "invalid-number": ("RETENTION_DAYS", {"RETENTION_DAYS": "ninety"}),
    "invalid-duration": ("PAYMENT_ROUTER_IDLE", {"PAYMENT_ROUTER_IDLE": "ten minutes"}),
    "calendar-month-duration": ("CHECKOUT_DEADLINE", {"CHECKOUT_DEADLINE": "P1M"}),  # a month has no fixed length
    "zero-duration": ("UNKNOWN_PAYMENT_RECHECK_AFTER", {"UNKNOWN_PAYMENT_RECHECK_AFTER": "PT0S"}),
    # APP_ENV is one of three exact words: a near miss must not fall back to "not production"
    "app-env-prod": ("APP_ENV", {"APP_ENV": "prod"}),
    "app-env-capitalised": ("APP_ENV", {"APP_ENV": "Production"}),
    "app-env-trailing-space": ("APP_ENV", {"APP_ENV": "production "}),
    "dev-routes-in-production": ("DEV_ROUTES", {"DEV_ROUTES": "1"}),
    "sqlite-database": ("DATABASE_URL", {"DATABASE_URL": "sqlite+aiosqlite:////var/lib/paysaga/paysaga.db"}),
    "compose-database-credentials": (
        "DATABASE_URL",
        {"DATABASE_URL": "postgresql+asyncpg://paysaga:paysaga@postgres:5432/paysaga"},
    ),
    "postgres-database-credentials": (
        "DATABASE_URL",
        {"DATABASE_URL": "postgresql+asyncpg://postgres:postgres@db.internal/paysaga"},
    ),
    "temporal-database-credentials": (
        "DATABASE_URL",
        {"DATABASE_URL": "postgresql+asyncpg://temporal:temporal@db.internal/paysaga"},
    ),
    "empty-database-password": (
        "DATABASE_URL",
        {"DATABASE_URL": "postgresql+asyncpg://paysaga_api:@db.internal/paysaga"},
    ),
    "no-database-password": ("DATABASE_URL", {"DATABASE_URL": "postgresql+asyncpg://paysaga_api@db.internal/paysaga"}),
    "temporal-in-the-clear": ("TEMPORAL_API_KEY", {"TEMPORAL_API_KEY": None}),
    "no-payload-encryption": ("PAYLOAD_ENCRYPTION_KEY", {"PAYLOAD_ENCRYPTION_KEY": None}),
    "http-event-url": (
        "EVENT_WEBHOOK_URLS",
        {
            "EVENT_WEBHOOK_URLS": "https://crm.example.com/hooks,http://erp.example.com/in",
            "EVENT_WEBHOOK_SECRET": "e" * 40,
        },
    ),
    "lookalike-api-base-url": (
        "MERCADOPAGO_API_BASE_URL",
        {"MERCADOPAGO_API_BASE_URL": "https://api.mercadopago.com.attacker.example"},
    ),
    "sandbox-api-base-url": (
        "MERCADOPAGO_API_BASE_URL",
        {"MERCADOPAGO_API_BASE_URL": "https://mp-sandbox.internal:8090"},
    ),
    "short-production-token": ("MERCADOPAGO_ACCESS_TOKEN", {"MERCADOPAGO_ACCESS_TOKEN": "APP_USR-1234"}),
    "truncated-production-token": (
        "MERCADOPAGO_ACCESS_TOKEN",
        {"MERCADOPAGO_ACCESS_TOKEN": "APP_USR-1234567890-000000-abcdef"},
    ),
}


def environment(changes: dict[str, str | None]) -> dict[str, str]:
    # only what the test sets: nothing inherited from the machine may make it pass or fail
    kept = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    env = {**kept, **SAFE, **changes}
    return {k: v for k, v in env.items() if v is not None}


@pytest.fixture
def production_env(monkeypatch):
    def apply(changes: dict[str, str | None]) -> None:
        for key in list(os.environ):
            if key.startswith(
                (
                    "APP_",
                    "MERCADOPAGO_",
                    "AUTH_",
                    "TEMPORAL_",
                    "EVENT_",
                    "CORS_",
                    "WEBHOOK_",
                    "RETENTION_",
                    "AUDIT_",
                    "IPN_",
                    "PAYLOAD_",
                    "DATABASE_",
                    "DEV_",
                    "API_",
                    "METRICS_",
                )
            ):
                monkeypatch.delenv(key)
        for key, value in environment(changes).items():
            monkeypatch.setenv(key, value)

    return apply


def test_a_safe_production_configuration_loads(production_env):
    production_env({})
    settings = load_settings()
    assert settings.is_production and settings.webhook_tolerance_seconds > 0
    assert not settings.dev_routes


# safe variants that must keep loading: the refusals are no wider than the risk
ACCEPTED = {
    "tls-client-certificate": {
        "TEMPORAL_API_KEY": None,
        "TEMPORAL_TLS_CERT": "/etc/temporal/client.pem",
        "TEMPORAL_TLS_KEY": "/etc/temporal/client.key",
    },
    "temporal-on-a-private-network": {"TEMPORAL_API_KEY": None, "TEMPORAL_INSECURE_OK": "1"},
    "api-base-url-with-slash": {"MERCADOPAGO_API_BASE_URL": "https://api.mercadopago.com/"},
    "token-of-another-seller": {
        "MERCADOPAGO_ACCESS_TOKEN": "APP_USR-7061348211536402-091409-0b5d9e1f3a7c2468ace0b2d4f6a8c0e1-98234511"
    },
    "https-event-urls": {
        "EVENT_WEBHOOK_URLS": "https://crm.example.com/hooks, https://erp.example.com/in",
        "EVENT_WEBHOOK_SECRET": "e" * 40,
    },
    "escaped-database-password": {"DATABASE_URL": "postgresql+asyncpg://paysaga_api:p%40ss%3Aw0rd-Zq8@db/paysaga"},
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_safe_variants_still_load(production_env, case):
    production_env(ACCEPTED[case])
    assert load_settings().is_production


@pytest.mark.parametrize("value", ["development", "staging", "production"])
def test_app_env_takes_the_three_exact_words(production_env, value):
    production_env({"APP_ENV": value})
    assert load_settings().app_env == value


def test_staging_is_not_production_and_has_no_dev_routes_unless_asked(production_env):
    # the compose/demo cluster: the development defaults are allowed, the dev surface is not implied
    unsafe = {key: None for key in SAFE if key != "APP_ENV"}
    production_env({**unsafe, "APP_ENV": "staging"})
    staging = load_settings()
    assert not staging.is_production and not staging.dev_routes
    production_env({**unsafe, "APP_ENV": "staging", "DEV_ROUTES": "1"})
    assert load_settings().dev_routes


def test_development_needs_dev_routes_asked_for(production_env):
    production_env({"APP_ENV": "development"})
    assert not load_settings().dev_routes
    production_env({"APP_ENV": "development", "DEV_ROUTES": "1"})
    assert load_settings().dev_routes


@pytest.mark.parametrize("case", CASES)
def test_each_unsafe_setting_is_refused_naming_its_variable(production_env, case):
    variable, changes = CASES[case]
    production_env(changes)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    message = str(refused.value)
    assert variable in message and "\n" not in message
    for secret in SECRETS:
        assert secret not in message


@pytest.mark.parametrize("case", CASES)
def test_the_worker_entry_point_exits_with_one_line(production_env, capsys, case):
    import worker

    variable, changes = CASES[case]
    production_env(changes)
    with pytest.raises(SystemExit) as exited:
        worker.main()
    assert exited.value.code not in (0, None)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and variable in lines[0]


@pytest.mark.parametrize("case", CASES)
async def test_the_api_lifespan_fails_with_one_line(production_env, case):
    """What uvicorn receives from the app on startup: `lifespan.startup.failed` and one line."""
    from api.main import create_app

    variable, changes = CASES[case]
    production_env(changes)
    app = create_app()
    sent, received = [], [{"type": "lifespan.startup"}]

    async def receive():
        return received.pop(0)

    async def send(message):
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    assert variable in message and "\n" not in message and "Traceback" not in message


def _run(argv: list[str], changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=environment(changes), capture_output=True, text=True, timeout=60)


# the real processes, for a few cases (the entry points above cover every case, in-process)
PROCESS_CASES = (
    "no-webhook-secret",
    "test-token",
    "no-replay-window",
    "invalid-number",
    "app-env-trailing-space",
    "dev-routes-in-production",
)


def test_both_processes_exit_non_zero_with_one_line():
    processes = {
        "worker": [sys.executable, "worker.py"],
        "api": [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", "0"],
    }
    runs = [(case, name, argv) for case in PROCESS_CASES for name, argv in processes.items()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda run: _run(run[2], CASES[run[0]][1]), runs))
    for (case, name, _), result in zip(runs, results, strict=True):
        variable = CASES[case][0]
        output = (result.stdout + result.stderr).splitlines()
        assert result.returncode != 0, (case, name, output)
        naming = [line for line in output if variable in line]
        assert len(naming) == 1, (case, name, output)  # one line says what is wrong
        assert not any("Traceback" in line for line in output), (case, name, output)
