"""Schemathesis against the app's own OpenAPI document, in-process over ASGI: every operation gets
generated requests (a bounded number each) with an admin token; no answer may be a server error
and every answer must be one the document declares, in the shape it declares.

Temporal is down here (a closed port): the operations that need it answer 503 with the error
shape, which the contract documents; any other 5xx fails.
"""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine as create_sync_engine

from api.auth import issue_token
from api.main import create_app
from config.settings import Settings
from store.models import Base
from tests.api.helpers import ADMIN, JWT_SECRET, WEBHOOK_SECRET

EXAMPLES = int(os.environ.get("PAYSAGA_FUZZ_EXAMPLES", "12"))


def _app():
    var = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"paysaga-fuzz-{os.getpid()}")
    os.makedirs(var, exist_ok=True)
    path = os.path.join(var, "read-model.db")
    if os.path.exists(path):
        os.remove(path)
    engine = create_sync_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    app_settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        temporal_address="127.0.0.1:9",
        auth_jwt_secret=JWT_SECRET,
        mercadopago_webhook_secret=WEBHOOK_SECRET,
    )
    return create_app(app_settings), app_settings


APP, APP_SETTINGS = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
ADMIN_HEADERS = {"Authorization": f"Bearer {issue_token(APP_SETTINGS, ADMIN, roles=['admin'])}"}


@schemathesis.check
def no_server_error(ctx, response, case) -> None:
    """503 only as the documented "dependency unavailable" error; nothing else from 500 up."""
    if response.status_code == 503:
        body = response.json()
        assert {"error", "message"} <= set(body), body
        return
    assert response.status_code < 500, f"{case.method} {case.path} answered {response.status_code}"


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_documented_responses(case):
    case.call_and_validate(
        headers=ADMIN_HEADERS,
        checks=[no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
