"""CORS from the settings, which are only known once the lifespan has loaded them."""
from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class SettingsCORSMiddleware:
    """Builds Starlette's CORSMiddleware on the first request from `settings.cors_origins`.

    The middleware stack is assembled before the lifespan runs, so the origins cannot be
    passed at construction when the app loads its settings lazily.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handler: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
