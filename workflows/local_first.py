"""Calls that usually answer at once, made as a local activity first.

A local activity runs in the worker inside the current workflow task: no activity task goes
through the server, and the workflow carries on in the same task. That is only worth it while
the call is quick, so the local attempt is made once: should it fail in a way a retry could fix,
the ordinary activity takes over with its retry policy, and its backoff waits on the server
instead of holding the worker's workflow task. Failures no retry can fix are raised as the
ordinary activity raises them (an ActivityError whose cause is the ApplicationError).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState


async def execute(activity: str, arg: Any, *, result_type: type, options: dict, patch: str) -> Any:
    """`workflow.execute_activity(activity, arg, **options)`, tried once locally first.

    `patch` names the change for histories recorded before it (they keep the plain activity).
    """
    if not workflow.patched(patch):
        return await workflow.execute_activity(activity, arg, result_type=result_type, **options)
    try:
        return await workflow.execute_local_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=options["start_to_close_timeout"],
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
    except ActivityError as err:  # a timeout: the cause is a TimeoutError
        if not _retryable(err.cause, options.get("retry_policy")):
            raise
    except ApplicationError as failure:  # what the activity raised, as a local activity reports it
        if not _retryable(failure, options.get("retry_policy")):
            raise _as_activity_error(activity, failure) from failure
    return await workflow.execute_activity(activity, arg, result_type=result_type, **options)


def _retryable(cause: BaseException | None, policy: RetryPolicy | None) -> bool:
    if not isinstance(cause, ApplicationError):
        return True  # a timeout, a lost worker: another attempt may well succeed
    never = policy.non_retryable_error_types if policy and policy.non_retryable_error_types else ()
    return not cause.non_retryable and cause.type not in never


def _as_activity_error(activity: str, failure: ApplicationError) -> ActivityError:
    return ActivityError(
        f"local activity {activity} failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=activity,
        activity_id="",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
