"""Development-only surface: demo bearer tokens and the demo storefront.

Both exist only when `DEV_ROUTES=1` asks for them (the embedded run does) and never with
`APP_ENV=production` (real tokens come from the identity provider there): `install` adds them
once the settings are known, so otherwise they are plain 404s and absent from the OpenAPI document.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, FastAPI
from pydantic import Field

import storefront
from api.auth import issue_token
from api.deps import SettingsDep
from api.schemas import Body
from config.settings import Settings

router = APIRouter(prefix="/api/dev", tags=["dev"])

TOKEN_TTL = timedelta(hours=8)  # a working day of clicking around the demo


class DevTokenIn(Body):
    user_id: int = Field(gt=0, le=2**63 - 1)
    roles: list[Literal["admin"]] = Field(default_factory=list)


class DevTokenOut(Body):
    token: str
    user_id: int


@router.post("/token", response_model=DevTokenOut, summary="A bearer token for any user (development only)")
async def dev_token(body: DevTokenIn, settings: SettingsDep) -> DevTokenOut:
    # never longer than the API honours (AUTH_MAX_TOKEN_LIFETIME)
    token = issue_token(settings, body.user_id, roles=body.roles, ttl=min(TOKEN_TTL, settings.auth_max_token_lifetime))
    return DevTokenOut(token=token, user_id=body.user_id)


def install(app: FastAPI, settings: Settings) -> None:
    """Adds the dev token endpoint and the storefront at /storefront/ when DEV_ROUTES=1, never in production."""
    if not settings.dev_routes or settings.is_production or getattr(app.state, "dev_surface_installed", False):
        return
    app.include_router(router)
    app.mount(storefront.MOUNT_PATH, storefront.static_files(), name="storefront")
    app.state.dev_surface_installed = True
