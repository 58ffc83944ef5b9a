"""What routes receive: settings, a read-model session, the Temporal client, the caller, and the
webhook's inbox, relay and rate limits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.auth import InvalidToken, Principal, decode_token
from api.checkout_admission import CheckoutAdmission
from api.coalesced_relay import CoalescedRelay
from api.errors import ApiError
from api.inbox import WebhookInbox
from api.metrics import ApiMetrics
from api.rate_limit import FailureRateLimiter, IpnRateLimiter
from config.settings import Settings
from domain.plans import Plan
from workflows.payment_messages import PaymentNotification

log = logging.getLogger("paysaga.api.auth")


class _Owned(Protocol):
    """A row that belongs to a user."""

    @property
    def user_id(self) -> int | None: ...


T = TypeVar("T", bound=_Owned)

_bearer = HTTPBearer(auto_error=False, description="HS256 JWT; `sub` is the user id")


# What the lifespan built, read from the app's state. Coroutines, so FastAPI reads them on the
# event loop rather than handing each one to a worker thread.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_plans(request: Request) -> dict[int, Plan]:
    return request.app.state.plans


async def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


async def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


async def get_webhook_inbox(request: Request) -> WebhookInbox:
    return request.app.state.inbox


async def get_payment_hint_relay(request: Request) -> CoalescedRelay[PaymentNotification]:
    return request.app.state.payment_hint_relay


async def get_checkout_admission(request: Request) -> CheckoutAdmission:
    return request.app.state.checkout_admission


async def get_ipn_rate_limiter(request: Request) -> IpnRateLimiter:
    return request.app.state.ipn_rate_limiter


async def get_signature_failure_limiter(request: Request) -> FailureRateLimiter:
    return request.app.state.signature_failure_limiter


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
WebhookInboxDep = Annotated[WebhookInbox, Depends(get_webhook_inbox)]
PaymentHintRelayDep = Annotated[CoalescedRelay[PaymentNotification], Depends(get_payment_hint_relay)]
CheckoutAdmissionDep = Annotated[CheckoutAdmission, Depends(get_checkout_admission)]
IpnRateLimiterDep = Annotated[IpnRateLimiter, Depends(get_ipn_rate_limiter)]
SignatureFailureLimiterDep = Annotated[FailureRateLimiter, Depends(get_signature_failure_limiter)]
