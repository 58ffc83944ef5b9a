"""Subscriptions: read from the read model; cancelled through the user's subscription workflow."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, TemporalDep, UserDep, require_access, require_owned
from api.errors import ApiError
from api.ids import Int64
from api.schemas import CancelledOut, SubscriptionOut
from api.temporal_calls import bounded
from domain.statuses import SubscriptionStatus
from store.models import SubscriptionRow, utcnow
from workflows.ids import subscription_workflow_id
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_messages import CancelSubscription

log = logging.getLogger("paysaga.api.subscriptions")

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])

CANCEL_TIMEOUT_SECONDS = 10.0


@router.get("/user/{userId}", response_model=SubscriptionOut)
async def user_subscription(userId: Int64, user: UserDep, session: SessionDep) -> SubscriptionOut:
    require_access(user, userId)
    row = await session.scalar(select(SubscriptionRow).where(SubscriptionRow.user_id == userId))
    if row is None:
        raise ApiError(404, "subscription_not_found", f"user {userId} has no subscription")
    return SubscriptionOut.of(row)


@router.get("/user/{userId}/active", response_model=list[SubscriptionOut])
async def user_active_subscriptions(userId: Int64, user: UserDep, session: SessionDep) -> list[SubscriptionOut]:
    require_access(user, userId)
    # ACTIVE but past its end date means the workflow's expiry timer has not been persisted yet
    rows = (
        await session.scalars(
            select(SubscriptionRow).where(
                SubscriptionRow.user_id == userId,
                SubscriptionRow.status == SubscriptionStatus.ACTIVE.value,
                SubscriptionRow.end_date > utcnow(),
            )
        )
    ).all()
    return [SubscriptionOut.of(row) for row in rows]


@router.post("/{subscriptionId}/cancel", response_model=CancelledOut)
async def cancel_subscription(
    subscriptionId: Int64,
    user: UserDep,
    session: SessionDep,
    temporal: TemporalDep,
) -> CancelledOut:
    row = await session.get(SubscriptionRow, subscriptionId)
    row = require_owned(
        user, row, ApiError(404, "subscription_not_found", f"subscription {subscriptionId} does not exist")
    )
    await session.close()  # release the connection while Temporal works

    if row.status == SubscriptionStatus.CANCELLED.value:
        # the workflow wrote this row after deciding: cancelling again changes nothing
        return CancelledOut(subscription_id=row.id, status=row.status, message="the subscription was already cancelled")

    handle = temporal.get_workflow_handle(subscription_workflow_id(row.user_id))
    request = CancelSubscription(user_id=row.user_id, requested_by=user.subject)
    try:
        view = await bounded(
            handle.execute_update(SubscriptionWorkflow.cancel, request), CANCEL_TIMEOUT_SECONDS, "cancel subscription"
        )
    except WorkflowUpdateFailedError as exc:
        # the cause may name internals (ids, workflow state): logged, never sent
        log.warning("cancel of subscription %s rejected by its workflow: %r", row.id, exc.cause)
        raise ApiError(409, "cancel_rejected", "the subscription could not be cancelled") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(
                409, "subscription_not_active", "the subscription has no running workflow to cancel"
            ) from None
        raise
    return CancelledOut(
        subscription_id=row.id, status=view.status.value, message="the subscription is cancelled; access ended now"
    )
