"""Settings read from the environment (names as in the public contract).

Defaults serve the embedded stack; `APP_ENV=production` refuses unsafe values.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.durations import parse_duration

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLANS_FILE = Path(__file__).resolve().parent / "plans.json"
DEV_WEBHOOK_SECRET = "paysaga-dev-webhook-secret"
DEV_JWT_SECRET = "paysaga-dev-jwt-secret-change-me-0123456789"
DEV_ACCESS_TOKEN = "TEST-0000000000000000-000000-paysaga-sandbox-token-0000"
DEV_EVENT_SECRET = "paysaga-dev-event-secret"


class ConfigurationError(Exception):
    """Raised with one line naming the variable that is missing or invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    app_env: str = "development"

    database_url: str = f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'paysaga.db'}"

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "payments"
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
    # the MercadoPago circuit breaker: open after this many consecutive failures (0: never),
    # fail fast while open, let one trial call through after the cool-down
    mercadopago_breaker_failures: int = Field(default=5, ge=0)
    mercadopago_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    auth_jwt_secret: str | None = None

    plans_file: Path = DEFAULT_PLANS_FILE
    checkout_deadline: str = "P3D"

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
    log_level: str = "INFO"

    event_webhook_urls: str | None = None
    event_webhook_secret: str | None = None
    # how long before a subscription's end `subscription.renewal_due` is sent (Checkout Pro
    # payments do not renew by themselves: another system reminds the buyer)
    renewal_reminder_lead: str = "P3D"
    # event delivery: backoff between attempts, the per-attempt HTTP timeout, how long an event
    # is retried before it is parked, how often a sweep re-kicks delivery, and how long a user's
    # delivery workflow lingers idle before it ends
    event_retry_initial_interval: str = "PT1S"
    event_retry_max_interval: str = "PT10M"
    event_delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    event_delivery_give_up_after: str = "P3D"
    event_sweep_interval: str = "PT1M"
    event_delivery_idle: str = "PT5M"

    # how long a payment's routing workflow waits for more notifications before it ends
    payment_router_idle: str = "PT10M"
    # applied payments after which a subscription workflow continues as new
    subscription_continue_as_new_after: int = Field(default=500, ge=1)

    # browser origins allowed to call the API (comma-separated `CORS_ORIGINS`); empty: none
    cors_origins: str = ""

    # retention: webhook inbox rows are deleted after RETENTION_DAYS, audit rows after the longer
    # AUDIT_RETENTION_DAYS; the purge runs every RETENTION_INTERVAL (a Temporal Schedule)
    retention_days: int = Field(default=90, ge=1)
    audit_retention_days: int = Field(default=5 * 365, ge=1)
    retention_interval: str = "P1D"

    @field_validator("checkout_deadline", "payment_router_idle", "retention_interval")
    @classmethod
    def _iso_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("renewal_reminder_lead", "event_retry_initial_interval", "event_retry_max_interval",
                     "event_delivery_give_up_after", "event_sweep_interval", "event_delivery_idle")
    @classmethod
    def _event_durations(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("event_webhook_urls")
    @classmethod
    def _event_urls(cls, value: str | None) -> str | None:
        for url in (value or "").split(","):
            if url.strip() and not url.strip().startswith(("http://", "https://")):
                raise ValueError(f"not an http(s) URL: {url.strip()!r}")
        return value

    @property
    def event_webhook_url_list(self) -> list[str]:
        return [url.strip() for url in (self.event_webhook_urls or "").split(",") if url.strip()]

    @property
    def event_secret(self) -> str:
        return self.event_webhook_secret or DEV_EVENT_SECRET

    @property
    def renewal_reminder_lead_delta(self) -> timedelta:
        return parse_duration(self.renewal_reminder_lead)

    @property
    def is_production(self) -> bool:
        return self.app_env.lower() == "production"

    @property
    def checkout_deadline_delta(self) -> timedelta:
        return parse_duration(self.checkout_deadline)

    @property
    def retention_interval_delta(self) -> timedelta:
        return parse_duration(self.retention_interval)

    @property
    def payment_router_idle_delta(self) -> timedelta:
        return parse_duration(self.payment_router_idle)

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
            raise ConfigurationError("EVENT_WEBHOOK_SECRET is required when EVENT_WEBHOOK_URLS is set and APP_ENV=production")
        self._check_production_hardening()

    def _check_production_hardening(self) -> None:
        """Values that work, but are unsafe with real money and real users."""
        if self.mercadopago_webhook_secret == DEV_WEBHOOK_SECRET:
            raise ConfigurationError("MERCADOPAGO_WEBHOOK_SECRET is the development default; set the application's secret signature")
        if self.auth_jwt_secret == DEV_JWT_SECRET:
            raise ConfigurationError("AUTH_JWT_SECRET is the development default; set a secret of your own")
        if self.event_webhook_secret == DEV_EVENT_SECRET:
            raise ConfigurationError("EVENT_WEBHOOK_SECRET is the development default; set a secret of your own")
        if self.webhook_tolerance_seconds == 0:
            raise ConfigurationError("WEBHOOK_TOLERANCE_SECONDS must be above 0 when APP_ENV=production (replays of old deliveries)")
        if not self.mercadopago_api_base_url.startswith("https://"):
            raise ConfigurationError("MERCADOPAGO_API_BASE_URL must be https:// when APP_ENV=production")
        for origin in self.cors_origin_list + self.temporal_ui_origin_list:
            if origin == "*" or origin.startswith("http://"):
                name = "CORS_ORIGINS" if origin in self.cors_origin_list else "TEMPORAL_UI_ORIGIN"
                raise ConfigurationError(f"{name} must list https:// origins (no '*', no http://) when APP_ENV=production")
        if self.audit_retention_days < self.retention_days:
            raise ConfigurationError("AUDIT_RETENTION_DAYS must not be shorter than RETENTION_DAYS")


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
