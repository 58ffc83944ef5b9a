"""Structured logs: one JSON object per line, with trace id, workflow id and external
reference when known, and secrets, tokens and e-mail addresses redacted before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from opentelemetry import trace
from sqlalchemy.engine import make_url

from telemetry import log_context

# Applied in order to the message and the traceback. Values, never names, are replaced.
_PATTERNS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"), "Bearer [REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[REDACTED-JWT]"),
    (re.compile(r"\b(?:APP_USR|TEST)-[A-Za-z0-9-]{8,}"), "[REDACTED-TOKEN]"),
    # credentials inside URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@"), r"\1:[REDACTED]@"),
    # name=value / "name": "value" where the name says secret
    (
        re.compile(
            r"(?i)\b(\w*(?:secret|password|passwd|token|api[_-]?key|encryption[_-]keys?|decryption[_-]keys?"
            r"|authorization|signature)\w*)(\s*[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED)([^\s\"',;&]+)"
        ),
        r"\1\2[REDACTED]",
    ),
    (re.compile(r"\bv1=[0-9a-fA-F]{16,}"), "v1=[REDACTED]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[REDACTED-EMAIL]"),
]
# Shorter exact secrets would redact ordinary words.
_MIN_SECRET_LENGTH = 6


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        unique = {secret for secret in secrets if secret and len(secret) >= _MIN_SECRET_LENGTH}
        self._secrets = sorted(unique, key=len, reverse=True)  # a longer secret may contain a shorter one

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback with secrets removed (the record is shared:
    every handler after this one sees the redacted text too)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        entry.update(_temporal_fields(record))
        for key, value in log_context.current().items():
            entry.setdefault(key, value)
        reference = getattr(record, "external_reference", None)
        if reference:
            entry["external_reference"] = str(reference)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def _temporal_fields(record: logging.LogRecord) -> dict[str, object]:
    """Temporal's workflow and activity loggers put their context in `extra`."""
    fields: dict[str, object] = {}
    workflow = getattr(record, "temporal_workflow", None)
    if isinstance(workflow, dict):
        fields.update(
            {
                "workflow_id": workflow.get("workflow_id"),
                "run_id": workflow.get("run_id"),
                "workflow_type": workflow.get("workflow_type"),
            }
        )
    activity = getattr(record, "temporal_activity", None)
    if isinstance(activity, dict):
        fields.update(
            {
                "workflow_id": activity.get("workflow_id"),
                "run_id": activity.get("workflow_run_id"),
                "activity_type": activity.get("activity_type"),
                "attempt": activity.get("attempt"),
            }
        )
    return {key: value for key, value in fields.items() if value is not None}


class StderrJsonHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def secrets_of(settings) -> list[str | None]:
    """Every secret value the settings hold, for exact-match redaction."""
    keys = ",".join(filter(None, (settings.payload_encryption_key, settings.payload_decryption_keys)))
    try:
        database_password = make_url(settings.database_url).password
    except Exception:  # an unparsable URL is reported elsewhere, by name
        database_password = None
    return [
        settings.mercadopago_access_token,
        settings.webhook_secret,
        settings.jwt_secret,
        settings.temporal_api_key,
        settings.event_webhook_secret,
        database_password,
        settings.metrics_token,
        *(key.partition(":")[2].strip() for key in keys.split(",")),
    ]


def configure_logging(settings=None, *, level: str | None = None) -> None:
    """JSON lines on stderr for the whole process; safe to call again (the handler is reused).

    Without settings or a level, the root logger's level is left as it is (loggers that set
    their own, like uvicorn's, still come through)."""
    import temporalio.activity
    import temporalio.workflow

    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrJsonHandler)), None)
    if handler is None:
        handler = StderrJsonHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter())
    for old in list(handler.filters):
        handler.removeFilter(old)
    handler.addFilter(RedactingFilter(secrets_of(settings) if settings is not None else ()))
    level = level or getattr(settings, "log_level", None)
    if level:
        root.setLevel(level.upper())
    logging.captureWarnings(True)  # Python warnings become JSON lines too
    # uvicorn writes its own text lines; route them through the JSON handler instead
    for name in ("uvicorn", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
            logger.removeHandler(old)
        logger.propagate = True
    # the JSON line carries the workflow and activity context as fields, not in the message
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
