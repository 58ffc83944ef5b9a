"""Logs are one JSON object per line, carry the trace id, workflow id and external reference
when known, and never carry secrets, tokens or payer e-mails."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import use_span
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from config.settings import DEV_ACCESS_TOKEN, DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, Settings
from telemetry.log_context import ActivityLogContext, log_context
from telemetry.logs import JsonFormatter, RedactingFilter, secrets_of
from tests.observability.observed import CURRENT_KEY, OLD_KEY


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord("paysaga.test", logging.INFO, __file__, 1, message, args, exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def emitted(made: logging.LogRecord, secrets=()) -> dict:
    RedactingFilter(secrets).filter(made)
    line = JsonFormatter().format(made)
    assert "\n" not in line
    return json.loads(line)


def test_a_line_is_one_json_object_with_the_trace_and_workflow_it_belongs_to():
    tracer = TracerProvider().get_tracer("test")
    span = tracer.start_span("request")
    with use_span(span, end_on_exit=True), log_context(external_reference="PLAN-1-USER-2-0123abcd"):
        line = emitted(
            record(
                "checkout %s started",
                "c-1",
                temporal_workflow={"workflow_id": "checkout-c-1", "run_id": "r", "workflow_type": "W"},
            )
        )
    assert line["message"] == "checkout c-1 started" and line["level"] == "INFO" and line["logger"] == "paysaga.test"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["workflow_id"] == "checkout-c-1" and line["external_reference"] == "PLAN-1-USER-2-0123abcd"


@pytest.mark.parametrize(
    "leak, must_not_show",
    [
        ("payer test_user_123@testuser.com paid", "test_user_123@testuser.com"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl seen", "eyJzdWIiOiIxIn0"),
        ("sdk token APP_USR-1234567890-abcdef-123", "APP_USR-1234567890"),
        ("connect postgresql+asyncpg://paysaga:hunter2pass@db:5432/paysaga", "hunter2pass"),
        ('{"access_token": "s3cr3t-value", "x": 1}', "s3cr3t-value"),
        ("x-signature ts=1742505638683,v1=" + "ab" * 32, "ab" * 32),
        ("the webhook secret is " + DEV_WEBHOOK_SECRET, DEV_WEBHOOK_SECRET),
    ],
)
def test_secrets_tokens_and_emails_are_redacted(leak, must_not_show):
    secrets = secrets_of(Settings(mercadopago_webhook_secret=DEV_WEBHOOK_SECRET))
    line = emitted(record("%s", leak), secrets)
    assert must_not_show not in line["message"]
    assert "REDACTED" in line["message"]


def test_tracebacks_and_configured_secrets_are_redacted():
    settings = Settings(
        payload_encryption_key=CURRENT_KEY,
        payload_decryption_keys=OLD_KEY,
        auth_jwt_secret="a-long-jwt-secret-for-this-test-only-0123",
    )
    try:
        raise RuntimeError(f"failed with key {CURRENT_KEY.partition(':')[2]} for buyer ana@example.com")
    except RuntimeError as exc:
        made = record("could not %s", "decrypt", exc_info=(type(exc), exc, exc.__traceback__))
    line = emitted(made, secrets_of(settings))
    assert CURRENT_KEY.partition(":")[2] not in line["exception"] and "ana@example.com" not in line["exception"]
    assert "RuntimeError" in line["exception"]
    assert "a-long-jwt-secret-for-this-test-only-0123" in secrets_of(settings)


def test_nothing_of_an_ordinary_line_is_lost():
    line = emitted(record("payment %s APPROVED for PLAN-1-USER-7-0123abcd (9.99 ARS)", "123456"))
    assert line["message"] == "payment 123456 APPROVED for PLAN-1-USER-7-0123abcd (9.99 ARS)"


# --- the activity interceptor, on a real worker ------------------------------------------------


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict] = []

    def emit(self, made: logging.LogRecord) -> None:
        self.lines.append(json.loads(JsonFormatter().format(made)))


@activity.defn(name="test.logs_something")
def logs_something(external_reference: str) -> None:
    logging.getLogger("paysaga.test.activity").warning("working on it")


@workflow.defn(name="LogsSomething")
class LogsSomething:
    @workflow.run
    async def run(self, external_reference: str) -> None:
        await workflow.execute_activity(
            logs_something, external_reference, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_activity_lines_carry_their_workflow_id_and_external_reference(observed):
    from concurrent.futures import ThreadPoolExecutor

    captured = _Captured()
    logger = logging.getLogger("paysaga.test.activity")
    logger.addHandler(captured)
    client = await Client.connect(observed.config.temporal_address)
    task_queue, workflow_id = f"logs-{uuid.uuid4().hex}", f"logs-{uuid.uuid4().hex}"
    try:
        with ThreadPoolExecutor(2) as executor:  # a sync activity: the context must cross into its thread
            async with Worker(
                client,
                task_queue=task_queue,
                workflows=[LogsSomething],
                activities=[logs_something],
                activity_executor=executor,
                interceptors=[ActivityLogContext()],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ):
                await client.execute_workflow(
                    LogsSomething.run, "PLAN-3-USER-9-00ff00ff", id=workflow_id, task_queue=task_queue
                )
    finally:
        logger.removeHandler(captured)
    [line] = captured.lines
    assert line["workflow_id"] == workflow_id and line["external_reference"] == "PLAN-3-USER-9-00ff00ff"
    assert line["activity_type"] == "test.logs_something"


# --- the real processes ------------------------------------------------------------------------


def test_the_processes_write_json_lines_without_secrets(observed, purchase):
    logs = observed.config.var_dir / "logs"
    forbidden = [
        purchase.payment["payer"]["email"],
        DEV_WEBHOOK_SECRET,
        DEV_JWT_SECRET,
        DEV_ACCESS_TOKEN,
        CURRENT_KEY.partition(":")[2],
        OLD_KEY.partition(":")[2],
    ]
    seen_trace = False
    for name in ("api.log", "worker.log"):
        for number, text in enumerate((logs / name).read_text().splitlines(), 1):
            if not text.strip():
                continue
            line = json.loads(text)  # every line, from the first: JSON
            assert {"time", "level", "logger", "message"} <= set(line), (name, number, text)
            assert not [secret for secret in forbidden if secret in text], (name, number, text)
            seen_trace = seen_trace or "trace_id" in line
    assert seen_trace, "no log line carried a trace id"
