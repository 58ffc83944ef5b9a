"""The interactive docs and the OpenAPI document: /docs, /redoc, /openapi.json.

They map every route and parameter for whoever asks, so production serves them only when
API_DOCS=1 says so. The app is built before the process knows its settings, so the routes are
added once the settings are known (when the app is built with them, or in the lifespan).
"""

from __future__ import annotations

from fastapi import FastAPI

from config.settings import Settings

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"


def install(app: FastAPI, settings: Settings) -> None:
    """Adds the docs routes if the settings want them; once per app, whichever comes first decides."""
    if getattr(app.state, "docs_decided", False):
        return
    app.state.docs_decided = True
    if not settings.docs_enabled:
        return
    app.openapi_url, app.docs_url, app.redoc_url = OPENAPI_URL, DOCS_URL, REDOC_URL
    app.setup()  # FastAPI's own: adds exactly the routes for the URLs set above
