"""Request body limits, enforced before anything reads, parses or authenticates a body.

A declared Content-Length over the limit is answered 413 at once, unread. A body sent without
one (chunked), or longer than it declared, is counted as it is received: past the limit the
reading app gets `RequestBodyTooLarge` (413 through the error handlers) and no more of it. The
answer asks to close the connection, so the server stops reading the rest.

Pure ASGI: a BaseHTTPMiddleware would buffer and wrap the stream this has to count.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_body
from config.settings import Settings

# the codec endpoints carry Temporal payloads: their own, larger limit (MAX_CODEC_BODY_BYTES)
CODEC_PATH_PREFIX = "/codec/"
_DEFAULTS = Settings.model_fields


class RequestBodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload_too_large", f"the request body exceeds {limit} bytes", headers={"Connection": "close"}
        )


class RequestBodyLimit:
    """`path_limits` gives paths with a limit of their own (the webhook's); the others take
    MAX_REQUEST_BODY_BYTES, or MAX_CODEC_BODY_BYTES under /codec/, from the app's settings."""

    def __init__(self, app: ASGIApp, path_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.path_limits = dict(path_limits or {})

    def limit_for(self, scope: Scope) -> int:
        path = scope.get("path", "")
        if path in self.path_limits:
            return self.path_limits[path]
        settings = getattr(scope["app"].state, "settings", None) if "app" in scope else None
        name = "max_codec_body_bytes" if path.startswith(CODEC_PATH_PREFIX) else "max_request_body_bytes"
        # before the lifespan has loaded the settings: their defaults
        return getattr(settings, name) if settings is not None else _DEFAULTS[name].default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:  # whoever keeps reading gets nothing more of it
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise RequestBodyTooLarge(limit)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if exceeded:  # the rest of the body is unread: the connection cannot be reused
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counting_receive, closing_send)
        except RequestBodyTooLarge:
            if started:
                raise
            await _refuse(scope, receive, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    refusal = RequestBodyTooLarge(limit)
    response = JSONResponse(error_body(refusal.code, refusal.detail), status_code=413, headers=refusal.headers)
    await response(scope, receive, send)
