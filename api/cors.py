"""CORS from the settings, which are only known once the lifespan has loaded them."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CODEC_PATH = "/codec/"


class SettingsCORSMiddleware:
    """Builds Starlette's CORSMiddleware on the first request from `settings.cors_origins`.

    The middleware stack is assembled before the lifespan runs, so the origins cannot be
    passed at construction when the app loads its settings lazily.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handler: ASGIApp | None = None
        self._codec_handler: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(CODEC_PATH):
            await self._codec(scope)(scope, receive, send)
            return
        if self._handler is None:
            settings = scope["app"].state.settings
            origins = settings.cors_origin_list
            self._handler = (
                CORSMiddleware(
                    self.app,
                    allow_origins=origins,
                    allow_methods=["GET", "POST", "OPTIONS"],
                    # bearer tokens travel in Authorization, not cookies: no credentials mode
                    allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                    max_age=600,
                )
                if origins
                else self.app
            )
        await self._handler(scope, receive, send)

    def _codec(self, scope: Scope) -> ASGIApp:
        """The codec server answers the Temporal UI's origin (TEMPORAL_UI_ORIGIN), whose fetch
        sends X-Namespace, may pass the user's token, and may include credentials."""
        if self._codec_handler is None:
            origins = scope["app"].state.settings.temporal_ui_origin_list
            self._codec_handler = (
                CORSMiddleware(
                    self.app,
                    allow_origins=origins,
                    allow_methods=["POST", "OPTIONS"],
                    allow_headers=["Authorization", "Content-Type", "X-Namespace"],
                    allow_credentials=True,
                    max_age=600,
                )
                if origins
                else self.app
            )
        return self._codec_handler
