"""POST /api/payments/checkout: update-with-start on the checkout workflow, which answers with the preference.

The API never calls MercadoPago: the workflow creates the preference and returns it through the
update, so a replayed Idempotency-Key lands on the same workflow and gets the same preference.

Under more load than the worker serves, a checkout is answered 503 `checkout_busy` with
Retry-After rather than late: at once when this process already waits on
CHECKOUT_MAX_IN_FLIGHT checkouts (nothing is started), or after CHECKOUT_ANSWER_TIMEOUT when the
preference is not ready yet (the workflow goes on; a retry with the same Idempotency-Key gets its
checkout and its one preference). A key whose preference exists is answered from the read model
without calling Temporal, so retries cost no workflow work.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Annotated

from fastapi import APIRouter, Header, Response
from temporalio.client import RPCTimeoutOrCancelledError, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from api.deps import (
    CheckoutAdmissionDep,
    MetricsDep,
    PlansDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    UserDep,
    require_access,
)
from api.errors import ApiError
from api.schemas import CheckoutCreatedOut, CheckoutIn
from api.temporal_calls import TemporalUnavailable, is_unavailable
from domain.references import external_reference_for
from domain.statuses import CheckoutStatus
from store.models import CheckoutRow
from workflows import search_attributes as sa
from workflows.checkout import KEY_REUSED, CheckoutWorkflow
from workflows.checkout_messages import CheckoutCreated, CheckoutInput, CheckoutRequest
from workflows.ids import checkout_id_for, checkout_workflow_id

log = logging.getLogger("paysaga.api.checkout")

router = APIRouter(prefix="/api/payments", tags=["checkout"])


@router.post("/checkout", status_code=201, response_model=CheckoutCreatedOut)
async def start_checkout(
    body: CheckoutIn,
    response: Response,
    user: UserDep,
    settings: SettingsDep,
    plans: PlansDep,
    temporal: TemporalDep,
    session: SessionDep,
    metrics: MetricsDep,
    admission: CheckoutAdmissionDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> CheckoutCreatedOut:
    require_access(user, body.user_id)
    plan = plans.get(body.plan_id)
    if plan is None:
        raise ApiError(404, "plan_not_found", f"plan {body.plan_id} does not exist")

    checkout_id = checkout_id_for(body.user_id, idempotency_key)
    if idempotency_key is not None:
        # a key whose preference exists (a retry after checkout_busy, a re-sent request) is
        # answered from the read model: retries cost no workflow task, however many come
        made = await _made_checkout(session, checkout_id, plan.id)
        if made is not None:
            response.status_code = 200
            return CheckoutCreatedOut.model_validate(made)
    external_reference = external_reference_for(plan.id, body.user_id, checkout_id)
    workflow_id = checkout_workflow_id(checkout_id)
    start = WithStartWorkflowOperation(
        CheckoutWorkflow.run,
        CheckoutInput(
            checkout_id=checkout_id,
            user_id=body.user_id,
            plan=plan,
            external_reference=external_reference,
            deadline_seconds=settings.checkout_deadline.total_seconds(),
        ),
        id=workflow_id,
        task_queue=settings.checkout_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # a checkout that ended is answered from the read model, never bought twice;
        # only a failed one may run again under the same key
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        search_attributes=sa.checkout_search_attributes(
            body.user_id, plan.id, external_reference, CheckoutStatus.AWAITING_PAYMENT.value
        ),
        static_summary=f"Checkout Pro: {plan.code} ({plan.price} {plan.currency}) for user {body.user_id}",
    )
    _read_start_failure(start)
    with admission.admit() as admitted:
        if not admitted:
            metrics.checkouts_busy.labels(reason="full").inc()
            # spread over 1-3 s: buyers refused together should not all come back together
            raise _busy(idempotency_key, "too many checkouts are waiting", retry_after=random.randint(1, 3))
        try:
            created: CheckoutCreated = await asyncio.wait_for(
                temporal.execute_update_with_start_workflow(
                    CheckoutWorkflow.request_preference,
                    CheckoutRequest(user_id=body.user_id, plan_id=plan.id),
                    start_workflow_operation=start,
                ),
                settings.checkout_answer_timeout.total_seconds(),
            )
        except (TimeoutError, RPCTimeoutOrCancelledError):  # the SDK reports the cancelled wait as the latter
            metrics.checkouts_busy.labels(reason="slow").inc()
            raise _busy(idempotency_key, "the checkout is not ready yet", retry_after=1) from None
        except WorkflowAlreadyStartedError:
            created = await _ended_checkout(session, checkout_id, plan.id)
        except WorkflowUpdateFailedError as exc:
            raise _refusal(idempotency_key, exc) from None
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("temporal start checkout failed: %s: %s", type(exc).__name__, exc)
                raise TemporalUnavailable("start checkout") from None
            raise

    if created.replayed:
        response.status_code = 200
    else:
        metrics.checkouts_started.inc()
    return CheckoutCreatedOut.model_validate(created)


def _read_start_failure(start: WithStartWorkflowOperation) -> None:
    """The start operation holds the call's failure too, in a future of its own that nobody
    awaits: asyncio would log every refused checkout as an error ("Future exception was never
    retrieved"). Read it once it is settled (the SDK keeps the future private)."""
    future = getattr(start, "_workflow_handle", None)
    if isinstance(future, asyncio.Future):
        future.add_done_callback(lambda done: done.cancelled() or done.exception())


def _busy(idempotency_key: str | None, why: str, *, retry_after: int) -> ApiError:
    again = "with the same Idempotency-Key" if idempotency_key else "with an Idempotency-Key, so a retry finds it"
    return ApiError(
        503,
        "checkout_busy",
        f"{why}; retry in {retry_after} s {again}",
        headers={"Retry-After": str(retry_after)},
    )


def _key_reused() -> ApiError:
    return ApiError(
        409, "idempotency_key_reused", "this Idempotency-Key was already used for another checkout; use a new key"
    )


async def _made_checkout(session, checkout_id: str, plan_id: int) -> CheckoutCreated | None:
    """What the key's checkout workflow created, from the read model (None: no preference yet)."""
    row = await session.get(CheckoutRow, checkout_id)
    if row is not None and row.plan_id != plan_id:
        raise _key_reused()
    if row is None or not (row.preference_id and row.init_point):
        return None
    return CheckoutCreated(
        checkout_id=row.checkout_id,
        preference_id=row.preference_id,
        init_point=row.init_point,
        sandbox_init_point=row.sandbox_init_point or row.init_point,
        external_reference=row.external_reference,
        created_at=row.created_at,
        replayed=True,
    )


async def _ended_checkout(session, checkout_id: str, plan_id: int) -> CheckoutCreated:
    """The key's checkout workflow has completed: replay what it created, from the read model."""
    made = await _made_checkout(session, checkout_id, plan_id)
    if made is None:
        raise ApiError(409, "checkout_closed", "the checkout for this Idempotency-Key has ended; use a new key")
    return made


def _refusal(idempotency_key: str | None, exc: WorkflowUpdateFailedError) -> ApiError:
    """A key reused for another purchase (the workflow's validator) or a preference that failed."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == KEY_REUSED and idempotency_key is not None:
        return _key_reused()
    log.warning("checkout refused the preference request: %s", cause)
    return ApiError(
        503, "checkout_unavailable", "the checkout could not be created; retry later", headers={"Retry-After": "5"}
    )
