"""Settings read from the environment (names as in the public contract).

Defaults serve the embedded stack; `APP_ENV=production` refuses unsafe values. Durations are
ISO-8601 in the environment (`P3D`, `PT10M`) and `timedelta` values here, parsed once on load.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.durations import IsoDuration

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLANS_FILE = Path(__file__).resolve().parent / "plans.json"
DEV_WEBHOOK_SECRET = "paysaga-dev-webhook-secret"
DEV_JWT_SECRET = "paysaga-dev-jwt-secret-change-me-0123456789"
DEV_ACCESS_TOKEN = "TEST-0000000000000000-000000-paysaga-sandbox-token-0000"
DEV_EVENT_SECRET = "paysaga-dev-event-secret"

# exposure: where production may send calls, and what its credentials look like
MERCADOPAGO_API = "https://api.mercadopago.com"
# APP_USR-<application id>-<MMDDHH issued>-<32 hex>-<seller's user id>, as MercadoPago issues them
PRODUCTION_ACCESS_TOKEN = re.compile(r"APP_USR-\d{8,20}-\d{4,8}-[0-9a-fA-F]{16,64}-\d{3,20}")
# passwords that ship in images, compose files and tutorials (a password equal to the user name too)
WELL_KNOWN_DATABASE_PASSWORDS = frozenset({"paysaga", "postgres", "temporal", "password", "changeme", "secret"})


class ConfigurationError(Exception):
    """Raised with one line naming the variable that is missing or invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # `development` (the embedded run), `staging` (compose/demo clusters: development defaults
    # allowed) or `production` (unsafe values refused); exact words, so a near miss such as
    # `prod` cannot silently mean "not production"
    app_env: Literal["development", "staging", "production"] = "development"

    # exposure: what the API shows and to whom
    # DEV_ROUTES=1 mounts POST /api/dev/token (tokens for any user, admin included) and the demo
    # storefront; the embedded run sets it; refused with APP_ENV=production
    dev_routes: bool = False
    # /docs, /redoc and /openapi.json; unset: on, except when APP_ENV=production
    api_docs: bool | None = None
    # when set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset: /metrics is
    # open (keep the API's port private then; production logs a warning at start)
    metrics_token: str | None = None
    # bearer tokens whose `exp` lies further ahead than this are refused
    auth_max_token_lifetime: IsoDuration = timedelta(days=1)
    # production talks to Temporal over TLS (TEMPORAL_API_KEY or a client certificate); =1 accepts
    # plaintext on purpose (a private network)
    temporal_insecure_ok: bool = False

    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'paysaga.db'}"
    # database outage: how long the API waits for PostgreSQL to open a connection, to answer one
    # statement, and for a free pooled connection; past them a request answers 503
    # `database_unavailable` (with Retry-After) instead of hanging
    database_connect_timeout_seconds: float = Field(default=1.5, gt=0)
    database_command_timeout_seconds: float = Field(default=5.0, gt=0)
    database_pool_timeout_seconds: float = Field(default=1.5, gt=0)

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "payments"
    # the buyer-facing queue: checkout workflows and their preference creation run here, on
    # their own worker slots, so a buyer's checkout never waits behind webhooks, reconciliations
    # or event deliveries; unset: `<TEMPORAL_TASK_QUEUE>-checkout`
    temporal_checkout_task_queue: str | None = None
    temporal_api_key: str | None = None
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None

    mercadopago_access_token: str = DEV_ACCESS_TOKEN
    mercadopago_webhook_secret: str | None = None
    mercadopago_api_base_url: str = "https://api.mercadopago.com"
    mercadopago_notification_url: str = "http://127.0.0.1:8000/api/webhooks/mercadopago"
    mercadopago_success_url: str | None = None
    mercadopago_failure_url: str | None = None
    mercadopago_pending_url: str | None = None
    # seconds the SDK waits for MercadoPago before an activity attempt fails
    mercadopago_timeout_seconds: float = 10.0
    # how far a webhook's `ts` may be from now; older deliveries are replays (0: no check)
    webhook_tolerance_seconds: int = Field(default=300, ge=0)
    # unsigned IPN hints accepted per minute, from one source address and in all (429 beyond)
    ipn_rate_limit_per_ip: int = Field(default=120, ge=1)
    ipn_rate_limit_global: int = Field(default=1200, ge=1)
    # --- what forged or oversized requests may cost ---
    # webhook deliveries whose signature fails, per minute from one source address; beyond, 429
    # before any HMAC is computed (a valid signature is never counted)
    webhook_invalid_signature_rate_limit_per_ip: int = Field(default=30, ge=1)
    # refused deliveries (bad signature, rate-limited, ignored topic, malformed) written to the
    # inbox per minute, as samples; all of them are counted in metrics. Accepted ones are all kept
    webhook_refused_samples_per_minute: int = Field(default=60, ge=0)
    # inbox records waiting for the database; beyond, new ones are dropped and counted
    webhook_inbox_max_queued: int = Field(default=10_000, ge=100)
    # request bodies larger than this are answered 413 before anything reads or authenticates
    # them; the webhook keeps its own 64 KiB
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # the codec endpoints carry a workflow event's Temporal payloads, base64 in JSON: Temporal
    # refuses payloads over 2 MiB, about 2.7 MiB once encoded
    max_codec_body_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=16 * 1024 * 1024)
    # the MercadoPago circuit breaker: open after this many consecutive failures (0: never),
    # fail fast while open, let one trial call through after the cool-down
    mercadopago_breaker_failures: int = Field(default=5, ge=0)
    mercadopago_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    auth_jwt_secret: str | None = None

    plans_file: Path = DEFAULT_PLANS_FILE
    # how long a checkout waits for its payment before it reconciles by search
    checkout_deadline: IsoDuration = timedelta(days=3)

    payload_encryption_key: str | None = None
    payload_decryption_keys: str | None = None
    # browser origins of the Temporal UI allowed to call /codec (comma-separated); empty: none
    temporal_ui_origin: str = ""

    worker_metrics_address: str = "127.0.0.1:9464"
    # workflows a worker keeps in memory between their tasks (the SDK's default is 1,000); one
    # evicted is replayed from its history when it next has work. Most open workflows only wait
    # (a checkout for its buyer, a subscription for its end date), so a smaller cache bounds the
    # worker's memory however many are open: each cached workflow holds about 0.2 MiB (its
    # sandbox), so 200 keep the worker near 220 MiB at any number of open workflows
    worker_max_cached_workflows: int = Field(default=200, ge=100)
    # what one worker takes on at once, per task queue (config/worker_slots.py sizes the defaults
    # to the machine): workflow tasks are CPU work under one GIL, so a few per core; activities
    # mostly wait on MercadoPago or the database, so more. Work beyond them waits on the server,
    # where it costs nothing, instead of in the worker, where it would outlive its timeout
    worker_workflow_task_slots: int | None = Field(default=None, ge=1)
    worker_activity_slots: int | None = Field(default=None, ge=1)
    worker_local_activity_slots: int | None = Field(default=None, ge=1)

    # POST /api/payments/checkout: how long the API waits for the workflow's preference, and how
    # many checkout calls one API process has in flight; beyond either the answer is 503
    # `checkout_busy` with Retry-After, and a retry with the same Idempotency-Key gets the same checkout
    checkout_answer_timeout: IsoDuration = timedelta(seconds=1)
    checkout_max_in_flight: int = Field(default=32, ge=1)
    log_level: str = "INFO"

    event_webhook_urls: str | None = None
    event_webhook_secret: str | None = None
    # how long before a subscription's end `subscription.renewal_due` is sent (Checkout Pro
    # payments do not renew by themselves: another system reminds the buyer)
    renewal_reminder_lead: IsoDuration = timedelta(days=3)
    # event delivery: backoff between attempts, the per-attempt HTTP timeout, how long an event
    # is retried before it is parked, how often a sweep re-kicks delivery, and how long a user's
    # delivery workflow lingers idle before it ends
    event_retry_initial_interval: IsoDuration = timedelta(seconds=1)
    event_retry_max_interval: IsoDuration = timedelta(minutes=10)
    event_delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    event_delivery_give_up_after: IsoDuration = timedelta(days=3)
    event_sweep_interval: IsoDuration = timedelta(minutes=1)
    event_delivery_idle: IsoDuration = timedelta(minutes=5)

    # how long a payment's workflow waits for more notifications before it ends
    payment_router_idle: IsoDuration = timedelta(minutes=10)
    # applied payments after which a subscription workflow continues as new
    subscription_continue_as_new_after: int = Field(default=500, ge=1)

    # unknown payment ids: after MercadoPago answers 404 for an id, its payment workflow absorbs
    # further notifications for it this long before it reads it again (worker)
    unknown_payment_recheck_after: IsoDuration = timedelta(minutes=10)

    # browser origins allowed to call the API (comma-separated `CORS_ORIGINS`); empty: none
    cors_origins: str = ""

    # retention: webhook inbox rows are deleted after RETENTION_DAYS, audit rows after the longer
    # AUDIT_RETENTION_DAYS; the purge runs every RETENTION_INTERVAL (a Temporal Schedule)
    retention_days: int = Field(default=90, ge=1)
    audit_retention_days: int = Field(default=5 * 365, ge=1)
    retention_interval: IsoDuration = timedelta(days=1)

    @field_validator("event_webhook_urls")
    @classmethod
    def _event_urls(cls, value: str | None) -> str | None:
        for url in (value or "").split(","):
            if url.strip() and not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url.strip()!r}")
        return value

    @property
    def checkout_task_queue(self) -> str:
        return self.temporal_checkout_task_queue or f"{self.temporal_task_queue}-checkout"

    @property
    def event_webhook_url_list(self) -> list[str]:
        return [url.strip() for url in (self.event_webhook_urls or "").split(",") if url.strip()]

    @property
    def event_secret(self) -> str:
        return self.event_webhook_secret or DEV_EVENT_SECRET

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else not self.is_production

    @property
    def webhook_secret(self) -> str:
        return self.mercadopago_webhook_secret or DEV_WEBHOOK_SECRET

    @property
    def jwt_secret(self) -> str:
        return self.auth_jwt_secret or DEV_JWT_SECRET

    @field_validator("payload_encryption_key", "payload_decryption_keys")
    @classmethod
    def _payload_keys(cls, value: str | None) -> str | None:
        from config.payload_codec import parse_keys

        parse_keys(value)  # raises with what is wrong, never with the key itself
        return value

    @property
    def temporal_ui_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.temporal_ui_origin.split(",") if origin.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def temporal_tls(self) -> bool:
        return bool(self.temporal_tls_cert or self.temporal_tls_key)

    def check_production(self) -> None:
        """Refuse to run production on unsafe configuration, naming the variable."""
        if not self.is_production:
            return
        if self.dev_routes:
            raise ConfigurationError("DEV_ROUTES must not be set when APP_ENV=production (it mints admin tokens)")
        if not self.mercadopago_webhook_secret:
            raise ConfigurationError("MERCADOPAGO_WEBHOOK_SECRET is required when APP_ENV=production")
        if not self.auth_jwt_secret:
            raise ConfigurationError("AUTH_JWT_SECRET is required when APP_ENV=production")
        if len(self.auth_jwt_secret) < 32:
            raise ConfigurationError("AUTH_JWT_SECRET must be at least 32 characters when APP_ENV=production")
        if self.mercadopago_access_token.startswith("TEST-"):
            raise ConfigurationError("MERCADOPAGO_ACCESS_TOKEN is a TEST- sandbox token; production needs APP_USR-")
        if not self.mercadopago_notification_url.startswith("https://"):
            raise ConfigurationError("MERCADOPAGO_NOTIFICATION_URL must be https:// when APP_ENV=production")
        if bool(self.temporal_tls_cert) != bool(self.temporal_tls_key):
            raise ConfigurationError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together")
        if self.event_webhook_url_list and not self.event_webhook_secret:
            raise ConfigurationError(
                "EVENT_WEBHOOK_SECRET is required when EVENT_WEBHOOK_URLS is set and APP_ENV=production"
            )
        self._check_production_hardening()

    def _check_production_hardening(self) -> None:
        """Values that work, but are unsafe with real money and real users."""
        if self.mercadopago_webhook_secret == DEV_WEBHOOK_SECRET:
            raise ConfigurationError(
                "MERCADOPAGO_WEBHOOK_SECRET is the development default; set the application's secret signature"
            )
        if self.auth_jwt_secret == DEV_JWT_SECRET:
            raise ConfigurationError("AUTH_JWT_SECRET is the development default; set a secret of your own")
        if self.event_webhook_secret == DEV_EVENT_SECRET:
            raise ConfigurationError("EVENT_WEBHOOK_SECRET is the development default; set a secret of your own")
        if self.webhook_tolerance_seconds == 0:
            raise ConfigurationError(
                "WEBHOOK_TOLERANCE_SECONDS must be above 0 when APP_ENV=production (replays of old deliveries)"
            )
        if self.mercadopago_api_base_url.rstrip("/") != MERCADOPAGO_API:
            raise ConfigurationError(f"MERCADOPAGO_API_BASE_URL must be {MERCADOPAGO_API} when APP_ENV=production")
        for origin in self.cors_origin_list + self.temporal_ui_origin_list:
            if origin == "*" or origin.startswith("http://"):
                name = "CORS_ORIGINS" if origin in self.cors_origin_list else "TEMPORAL_UI_ORIGIN"
                raise ConfigurationError(
                    f"{name} must list https:// origins (no '*', no http://) when APP_ENV=production"
                )
        if self.audit_retention_days < self.retention_days:
            raise ConfigurationError("AUDIT_RETENTION_DAYS must not be shorter than RETENTION_DAYS")
        self._check_production_exposure()

    def _check_production_exposure(self) -> None:
        """Credentials and channels an attacker looks for first."""
        problem = _database_url_problem(self.database_url)
        if problem:
            raise ConfigurationError(f"DATABASE_URL {problem} when APP_ENV=production")
        if not (self.temporal_api_key or self.temporal_tls) and not self.temporal_insecure_ok:
            raise ConfigurationError(
                "TEMPORAL_API_KEY or TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY is required when "
                "APP_ENV=production (TEMPORAL_INSECURE_OK=1 accepts plaintext on purpose)"
            )
        if not self.payload_encryption_key:
            raise ConfigurationError(
                "PAYLOAD_ENCRYPTION_KEY is required when APP_ENV=production (workflow payloads hold personal data)"
            )
        if any(not url.startswith("https://") for url in self.event_webhook_url_list):
            raise ConfigurationError("EVENT_WEBHOOK_URLS must list https:// URLs when APP_ENV=production")
        if not PRODUCTION_ACCESS_TOKEN.fullmatch(self.mercadopago_access_token):
            raise ConfigurationError(
                "MERCADOPAGO_ACCESS_TOKEN does not look like a production token "
                "(APP_USR-<app id>-<digits>-<hex>-<user id>)"
            )


def _database_url_problem(url: str) -> str | None:
    """What makes a database URL unfit for production, never quoting the password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return "is not a database URL"
    if parsed.get_backend_name() == "sqlite":
        return "must be PostgreSQL, not SQLite,"
    if not parsed.password:
        return "has no password"
    if parsed.password == parsed.username or parsed.password in WELL_KNOWN_DATABASE_PASSWORDS:
        return "uses default credentials"
    return None


def load_settings() -> Settings:
    """Read and validate the environment; one clear line on failure."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise ConfigurationError(f"{name} is invalid: {first['msg']}") from None
    settings.check_production()
    return settings
