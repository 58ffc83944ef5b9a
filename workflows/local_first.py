"""Calls that usually answer at once, made as a local activity first.

A local activity runs in the worker inside the current workflow task: no activity task goes
through the server, and the workflow carries on in the same task. That is only worth it while
the call is quick, so the local attempt is made once: should it fail in a way a retry could fix,
the ordinary activity takes over with its retry policy, and its backoff waits on the server
instead of holding the worker's workflow task.

A failure no retry can fix is raised as it came: an ActivityError from the ordinary activity,
but the ApplicationError itself from the local attempt (that is how a local activity reports
what it raised). Callers catch `FAILED` and read what went wrong with `failure_of`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# what `execute` raises when the call failed for good, whichever attempt failed
FAILED: tuple[type[ActivityError], type[ApplicationError]] = (ActivityError, ApplicationError)


async def execute(activity: str, arg: Any, *, result_type: type, options: dict, patch: str) -> Any:
    """`workflow.execute_activity(activity, arg, **options)`, tried once locally first.

    `patch` is the deprecated switch of this call (workflows/patches.py): its marker is still
    recorded, so histories recorded while it was patched replay.
    """
    workflow.deprecate_patch(patch)
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
            raise
    return await workflow.execute_activity(activity, arg, result_type=result_type, **options)


def failure_of(err: ActivityError | ApplicationError) -> BaseException:
    """What the activity itself raised (or its timeout): an ActivityError's cause, or the local
    attempt's own failure."""
    if isinstance(err, ActivityError):
        return err.cause or err
    return err


def _retryable(cause: BaseException | None, policy: RetryPolicy | None) -> bool:
    if not isinstance(cause, ApplicationError):
        return True  # a timeout, a lost worker: another attempt may well succeed
    never = policy.non_retryable_error_types if policy and policy.non_retryable_error_types else ()
    return not cause.non_retryable and cause.type not in never
