"""One error shape everywhere: `{"error": "<code>", "message": "<text>"}`, never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.database import DatabaseUnavailable, is_database_unavailable

log = logging.getLogger("paysaga.api")

# Codes for errors raised without one of our own (framework 404/405, bare HTTPException).
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ErrorOut(BaseModel):
    """The body of every error answer."""

    error: str
    message: str


# Documented on every operation, so the OpenAPI document says what clients really get
# (FastAPI's own 422 shape is replaced: ours is the one above).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": HTTPStatus(status).phrase}
    for status in (400, 401, 403, 404, 405, 409, 413, 422, 429, 503)
}


class ApiError(StarletteHTTPException):
    """An HTTP error with our machine-readable code."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or _DEFAULT_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Name the fields, not the values: inputs may carry tokens or personal data.
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse(error_body("validation_error", "; ".join(problems) or "invalid request"), status_code=422)


class InternalErrorMiddleware:
    """Turns any unhandled exception into a bare 500 (logged here, never sent to the client).

    Starlette's own handler for `Exception` re-raises after answering; this one does not,
    so servers and test transports see a plain 500 response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = JSONResponse(error_body("internal_error", "internal server error"), status_code=500)
            await response(scope, receive, send)


# how soon a client may try again after the database was unreachable
DATABASE_RETRY_AFTER_SECONDS = 5


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Database down or overloaded: 503 with Retry-After, the cause in our log only. Any other
    database error (a wrong statement, a constraint) stays an internal error."""
    if not is_database_unavailable(exc):
        log.error("unhandled database error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)
    log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse(
        error_body("database_unavailable", "the database is unavailable; retry later"),
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking any Exception, though it calls each with its own class
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    for database_error in (DatabaseUnavailable, sa_exc.TimeoutError, sa_exc.DBAPIError):
        app.add_exception_handler(database_error, _database_error)
    app.add_middleware(InternalErrorMiddleware)
