"""Calls to Temporal bounded in time, with "Temporal is unreachable" mapped to one 503."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError

log = logging.getLogger("paysaga.api.temporal")

T = TypeVar("T")

# RPC codes that say "the server is not there (yet)" rather than "your request is wrong".
_UNAVAILABLE_CODES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.ABORTED,
    }
)


class TemporalUnavailable(ApiError):
    def __init__(self, what: str) -> None:
        super().__init__(
            503,
            "temporal_unavailable",
            f"the workflow service is unavailable ({what}); retry later",
            headers={"Retry-After": "5"},
        )


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, RPCTimeoutOrCancelledError)):
        return True
    if isinstance(exc, RPCError):
        return exc.status in _UNAVAILABLE_CODES
    # a lazy client that cannot connect raises RuntimeError("Failed client connect: ...")
    return isinstance(exc, RuntimeError)


async def bounded(call: Awaitable[T], seconds: float, what: str) -> T:
    """Await a Temporal call for at most `seconds`; unreachable or slow → TemporalUnavailable.

    Other failures (an update rejected, a workflow not found) propagate for the caller to map.
    """
    try:
        return await asyncio.wait_for(call, seconds)
    except Exception as exc:
        if is_unavailable(exc):
            log.warning("temporal %s failed: %s: %s", what, type(exc).__name__, exc)
            raise TemporalUnavailable(what) from None
        raise
