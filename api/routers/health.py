"""Liveness, readiness (database and Temporal, each bounded) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.errors import ApiError
from config.settings import Settings

log = logging.getLogger("paysaga.api")

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 1.0


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    database, temporal = await asyncio.gather(_check(_database_ok(state.engine)), _check(_temporal_ok(state.temporal)))
    if database == "ok" and temporal == "ok":
        return JSONResponse({"status": "ready", "database": database, "temporal": temporal})
    failing = " and ".join(name for name, result in (("database", database), ("temporal", temporal)) if result != "ok")
    # the error shape of every other failure, plus which dependency is down
    return JSONResponse(
        {
            "status": "not_ready",
            "error": "not_ready",
            "message": f"{failing} unreachable",
            "database": database,
            "temporal": temporal,
        },
        status_code=503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    _require_metrics_token(request.app.state.settings, request.headers.get("authorization", ""))
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _require_metrics_token(settings: Settings, authorization: str) -> None:
    """With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` reads the metrics."""
    if not settings.metrics_token:
        return
    scheme, _, given = authorization.partition(" ")
    # constant time: the comparison tells nothing about how much of a guess was right
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
        raise ApiError(
            401, "unauthorized", "a bearer token is required for the metrics", headers={"WWW-Authenticate": "Bearer"}
        )


def warn_if_metrics_are_open(settings: Settings) -> None:
    """Production may leave /metrics open (a private port, a scraper without credentials): say so once."""
    if settings.is_production and not settings.metrics_token:
        log.warning("GET /metrics is open to anyone who reaches the API; set METRICS_TOKEN to require a bearer token")


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception:
        return "unavailable"
    return "ok"


async def _database_ok(engine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _temporal_ok(client) -> None:
    await client.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
    )
