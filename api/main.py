"""The API process: `uvicorn api.main:app`.

`create_app()` only wires routes and middleware; everything that touches the outside world
(settings, database engine, plan catalogue, Temporal client) is opened in the lifespan, so
importing this module does no I/O.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import docs
from api.body_limit import RequestBodyLimit
from api.checkout_admission import CheckoutAdmission
from api.cors import SettingsCORSMiddleware
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.inbox import WebhookInbox
from api.metrics import ApiMetrics, MetricsMiddleware
from api.rate_limit import FailureRateLimiter, IpnRateLimiter
from api.routers import checkout_start, checkout_status, codec, dev, health, payments, plans, subscriptions, webhooks
from api.routers import events as events_router
from config.settings import ConfigurationError, Settings, load_settings
from config.temporal import connect_temporal
from domain.plans import Plan, load_catalogue
from store.database import DatabaseTimeouts, create_engine, create_session_factory
from telemetry.logs import configure_logging
from telemetry.tracing import instrument_engine, instrument_fastapi, setup_tracing


class StartupError(Exception):
    """Configuration the API cannot start with; its message is the one line to show."""


def create_app(settings: Settings | None = None) -> FastAPI:
    # docs and OpenAPI: off until the settings say otherwise (API_DOCS; off in production by default)
    app = FastAPI(
        title="paysaga",
        version="0.1.0",
        lifespan=_lifespan(settings),
        responses=ERROR_RESPONSES,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    if settings is not None:
        docs.install(app, settings)
    app.state.metrics = ApiMetrics()
    for module in (plans, checkout_start, payments, checkout_status, subscriptions, webhooks, health):
        app.include_router(module.router)
    app.include_router(events_router.router)
    app.include_router(codec.router)
    install_error_handlers(app)
    # request body limits: outside everything that reads a body, inside metrics and CORS (so a 413 is counted)
    app.add_middleware(RequestBodyLimit, path_limits={webhooks.NOTIFICATION_PATH: webhooks.MAX_BODY_BYTES})
    # added last = outermost: metrics see every answer, CORS headers go on errors too
    app.add_middleware(SettingsCORSMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(_OneLineStartupFailure)
    instrument_fastapi(app)
    return app


def _lifespan(given: Settings | None):
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            settings = given or _load_settings()
            if given is None:  # the process's own settings (an app built with given settings is a test's)
                configure_logging(settings)
            catalogue = _load_catalogue(settings)
            engine = _create_engine(settings)
            # lazy: the API starts, serves reads and answers 503 on writes while Temporal is down
            temporal = await _temporal_client(settings)
        except StartupError as exc:
            app.state.startup_failure = str(exc)
            raise
        setup_tracing("paysaga-api")
        instrument_engine(engine)
        session_factory = create_session_factory(engine)
        # forged deliveries only sampled, the queue bounded: what is dropped is counted
        inbox = WebhookInbox(
            session_factory,
            max_queued=settings.webhook_inbox_max_queued,
            refused_samples_per_minute=settings.webhook_refused_samples_per_minute,
            on_shed=app.state.metrics.webhook_inbox_shed,
        )
        app.state.settings = settings
        app.state.plans = catalogue
        app.state.engine = engine
        app.state.session_factory = session_factory
        app.state.temporal = temporal
        app.state.inbox = inbox
        app.state.payment_hint_relay = webhooks.payment_hint_relay(temporal, settings)
        app.state.checkout_admission = CheckoutAdmission(settings.checkout_max_in_flight)
        # what an unsigned hint, or a source whose signatures keep failing, may cost
        app.state.ipn_rate_limiter = IpnRateLimiter(settings.ipn_rate_limit_per_ip, settings.ipn_rate_limit_global)
        app.state.signature_failure_limiter = FailureRateLimiter(settings.webhook_invalid_signature_rate_limit_per_ip)
        # demo tokens and the storefront (DEV_ROUTES=1), the docs (API_DOCS): only once settings are known
        dev.install(app, settings)
        docs.install(app, settings)
        health.warn_if_metrics_are_open(settings)
        try:
            yield
        finally:
            await app.state.payment_hint_relay.drain(timeout=2.0)
            await inbox.drain(timeout=2.0)
            await engine.dispose()
            # a Temporal client has no close(): its connection goes with the last reference
            app.state.temporal = None

    return lifespan


def _load_settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        raise StartupError(str(exc)) from None


def _load_catalogue(settings: Settings) -> dict[int, Plan]:
    try:
        return load_catalogue(settings.plans_file)
    except (OSError, ValueError) as exc:
        raise StartupError(f"PLANS_FILE is invalid: {exc}") from None


def _create_engine(settings: Settings) -> AsyncEngine:
    try:
        # bounded waits: a database outage answers 503 at once, never a hung request
        return create_engine(
            settings.database_url,
            DatabaseTimeouts(
                connect_seconds=settings.database_connect_timeout_seconds,
                command_seconds=settings.database_command_timeout_seconds,
                pool_seconds=settings.database_pool_timeout_seconds,
            ),
        )
    except (ArgumentError, ImportError, OSError) as exc:
        raise StartupError(f"DATABASE_URL is invalid: {exc}") from None


async def _temporal_client(settings: Settings) -> Client:
    try:
        return await connect_temporal(settings, lazy=True)
    except OSError as exc:  # a TLS certificate or key path that cannot be read
        raise StartupError(f"TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY cannot be read: {exc}") from None


class _OneLineStartupFailure:
    """Reports a StartupError as its one line instead of a traceback; the server then exits non-zero."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state

        async def send_one_line(message: Message) -> None:
            failure = getattr(state, "startup_failure", None)
            if message["type"] == "lifespan.startup.failed" and failure:
                message = {**message, "message": failure}
            await send(message)

        try:
            await self.app(scope, receive, send_one_line)
        except StartupError:
            pass  # already reported as one line; re-raising would print the traceback


# JSON logs from uvicorn's first line (it imports this module before it starts serving);
# the lifespan completes the set-up once the settings are known
configure_logging()
app = create_app()
