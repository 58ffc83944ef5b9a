"""Calls that usually answer at once, made as a local activity first.

A local activity runs in the worker inside the current workflow task: no activity task goes
through the server, and the workflow carries on in the same task. That is only worth it while
the call is quick, so a local attempt is made once: should it fail in a way a retry could fix,
the ordinary activity takes over with its retry policy, and its backoff waits on the server
instead of holding the worker's workflow task. Failures no retry can fix are raised as they are.
"""
from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


async def execute(activity: str, arg: Any, *, result_type: type, options: dict, patch: str) -> Any:
    """`workflow.execute_activity(activity, arg, **options)`, trying it once locally first.

    `patch` names the change for histories recorded before it (they keep the plain activity).
    """
    if not workflow.patched(patch):
        return await workflow.execute_activity(activity, arg, result_type=result_type, **options)
    try:
        return await workflow.execute_local_activity(
            activity, arg, result_type=result_type,
            start_to_close_timeout=options["start_to_close_timeout"],
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
    except ActivityError as err:
        if not _retryable(err, options.get("retry_policy")):
            raise
    return await workflow.execute_activity(activity, arg, result_type=result_type, **options)


def _retryable(err: ActivityError, policy: RetryPolicy | None) -> bool:
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return True  # a timeout, a lost worker: another attempt may well succeed
    never = policy.non_retryable_error_types if policy and policy.non_retryable_error_types else ()
    return not cause.non_retryable and cause.type not in never
