"""What a log line is about (workflow id, external reference), bound for the code that runs.

Temporal's own loggers carry their context in `extra`; this covers every other logger used
while an activity runs (ours, SQLAlchemy's, the SDK's), through a context variable that the
activity's thread inherits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from domain.references import parse_external_reference

# the default is read, never mutated: each context binds a new mapping
_fields: ContextVar[Mapping[str, str]] = ContextVar("paysaga_log_context", default={})  # noqa: B039


def current() -> Mapping[str, str]:
    return _fields.get()


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block (None values are left out)."""
    token = _fields.set({**_fields.get(), **{key: str(value) for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def external_reference_of(args: Sequence[Any]) -> str | None:
    """The external reference an activity's input names, if any (a string or a message field)."""
    for arg in args:
        for candidate in (
            arg,
            getattr(arg, "external_reference", None),
            getattr(getattr(arg, "payment", None), "external_reference", None),
        ):
            if isinstance(candidate, str) and parse_external_reference(candidate):
                return candidate
    return None


class ActivityLogContext(Interceptor):
    """Worker interceptor: every activity logs with its workflow id and external reference."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with log_context(
            workflow_id=info.workflow_id,
            activity_type=info.activity_type,
            external_reference=external_reference_of(input.args),
        ):
            return await super().execute_activity(input)
