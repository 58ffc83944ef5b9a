"""The sandbox's FastAPI app: MercadoPago's API subset, the buyer's checkout and the /sandbox
controls over one in-memory state."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from . import api_routes, buyer_routes, control_routes
from .config import SandboxConfig
from .jsonio import MPJSONResponse
from .resources import MPError
from .runtime import Sandbox


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    sandbox = Sandbox(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await sandbox.notifier.aclose()

    app = FastAPI(
        title="MercadoPago sandbox",
        lifespan=lifespan,
        docs_url="/sandbox/docs",
        openapi_url="/sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox  # tests and the embedded stack may reach the store directly

    # every error in MercadoPago's shape, as the SDK and the project's error handling expect
    @app.exception_handler(MPError)
    async def mp_error(_: Request, exc: MPError) -> MPJSONResponse:
        # a throttled caller is told when to come back, as MercadoPago's rate limiter does
        headers = {"Retry-After": "1"} if exc.status == 429 else None
        return MPJSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> MPJSONResponse:
        error = "not_found" if exc.status_code == 404 else "bad_request" if exc.status_code < 500 else "internal_error"
        message = "resource not found" if exc.status_code == 404 else str(exc.detail)
        return MPJSONResponse(MPError(exc.status_code, error, message).body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> MPJSONResponse:
        cause = [{"code": "invalid_parameter", "description": str(e.get("msg")), "data": None} for e in exc.errors()]
        return MPJSONResponse(MPError(400, "bad_request", "invalid parameters", cause).body(), status_code=400)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    app.include_router(api_routes.router)
    app.include_router(buyer_routes.router)
    app.include_router(control_routes.router)
    return app
