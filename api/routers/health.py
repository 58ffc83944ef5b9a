"""Liveness, readiness (database and Temporal, each bounded) and Prometheus metrics."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

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
    return JSONResponse({"status": "not_ready", "error": "not_ready", "message": f"{failing} unreachable",
                         "database": database, "temporal": temporal}, status_code=503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


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
