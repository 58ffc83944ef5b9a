"""What routes receive: settings, a read-model session, the Temporal client, the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import InvalidToken, Principal, decode_token
from api.errors import ApiError
from api.metrics import ApiMetrics
from config.settings import Settings
from domain.plans import Plan

log = logging.getLogger("paysaga.api.auth")


class _Owned(Protocol):
    """A row that belongs to a user."""

    @property
    def user_id(self) -> int | None: ...


T = TypeVar("T", bound=_Owned)

_bearer = HTTPBearer(auto_error=False, description="HS256 JWT; `sub` is the user id")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_plans(request: Request) -> dict[int, Plan]:
    return request.app.state.plans


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "a bearer token is required", headers=challenge)
    try:
        return decode_token(request.app.state.settings, credentials.credentials)
    except InvalidToken as refused:
        # the reason goes to our logs; the caller only learns the token was refused
        log.info("bearer token refused: %s", refused)
        raise ApiError(401, "invalid_token", "the bearer token is invalid or expired", headers=challenge) from None


def _forbidden() -> ApiError:
    return ApiError(403, "forbidden", "you may not access this resource")


def require_access(principal: Principal, owner_id: int | None) -> None:
    """403 unless the caller owns the resource or is an admin."""
    if not principal.may_access(owner_id):
        raise _forbidden()


def require_owned(principal: Principal, row: T | None, not_found: ApiError) -> T:
    """The row (anything with a `user_id`), when the caller may read it. To anyone but an admin a missing row answers
    exactly as another user's does (403, same body, same single lookup before it), so ids
    cannot be probed for existence; an admin gets `not_found`."""
    if row is None:
        if principal.is_admin:
            raise not_found
        raise _forbidden()
    require_access(principal, row.user_id)
    return row


SettingsDep = Annotated[Settings, Depends(get_settings)]
PlansDep = Annotated[dict[int, Plan], Depends(get_plans)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
UserDep = Annotated[Principal, Depends(current_user)]
