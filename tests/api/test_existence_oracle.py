"""A user cannot learn which payment, checkout or subscription ids exist: asking for another
user's id and for one that does not exist gets the same answer (403, same body, same headers)
after the same database work. Admins still get 404 for ids that do not exist. And a cancel the
workflow rejects answers a fixed message, never the workflow's own reason."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from sqlalchemy import event
from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.main import create_app
from tests.api.helpers import ADMIN, ALICE, BOB, bearer, serve
from workflows.ids import subscription_workflow_id
from workflows.subscription_messages import CancelSubscription, SubscriptionView

MISSING_PAYMENT, MISSING_SUBSCRIPTION, MISSING_CHECKOUT = 987_654_321, 987_654_321, "0" * 32

# (method, path of ALICE's resource, path of one that does not exist, what an admin gets for it)
PROBES = {
    "payment": (
        "GET",
        lambda s: f"/api/payments/{s.alice_approved}",
        f"/api/payments/{MISSING_PAYMENT}",
        "payment_not_found",
    ),
    "checkout": (
        "GET",
        lambda s: f"/api/checkouts/{s.alice_checkout}",
        f"/api/checkouts/{MISSING_CHECKOUT}",
        "checkout_not_found",
    ),
    "subscription cancel": (
        "POST",
        lambda s: f"/api/subscriptions/{s.alice_subscription}/cancel",
        f"/api/subscriptions/{MISSING_SUBSCRIPTION}/cancel",
        "subscription_not_found",
    ),
}
# headers that legitimately differ between two answers
_VARYING = {"date", "x-request-id", "traceparent"}


@asynccontextmanager
async def counting_statements(settings):
    """The app served, and a list of the SQL statements it sends."""
    app = create_app(settings)
    async with serve(settings, app) as client:
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            statements.append(statement)

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            yield client, statements
        finally:
            event.remove(engine, "before_cursor_execute", count)


async def _ask(client, statements, method, path, headers):
    statements.clear()
    response = await client.request(method, path, headers=headers)
    return response, len(statements)


@pytest.mark.parametrize("probe", PROBES, ids=str)
async def test_a_foreign_id_and_a_missing_one_look_the_same_to_a_user(make_settings, seed, probe):
    method, foreign_path, missing_path, _ = PROBES[probe]
    settings = make_settings()
    bob = bearer(settings, BOB)
    async with counting_statements(settings) as (client, statements):
        foreign, foreign_statements = await _ask(client, statements, method, foreign_path(seed), bob)
        missing, missing_statements = await _ask(client, statements, method, missing_path, bob)
    assert foreign.status_code == missing.status_code == 403
    assert foreign.json() == missing.json() == {"error": "forbidden", "message": "you may not access this resource"}
    assert {k: v for k, v in foreign.headers.items() if k not in _VARYING} == {
        k: v for k, v in missing.headers.items() if k not in _VARYING
    }
    # no lookup happens for one that exists and not for the other (timing follows the work done)
    assert foreign_statements == missing_statements


@pytest.mark.parametrize("probe", PROBES, ids=str)
async def test_an_admin_still_gets_404_for_a_missing_id(make_settings, seed, probe):
    method, _, missing_path, code = PROBES[probe]
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.request(method, missing_path, headers=bearer(settings, ADMIN, roles=["admin"]))
    assert response.status_code == 404 and response.json()["error"] == code


async def test_a_checkout_id_too_long_to_exist_is_refused_the_same_way(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/checkouts/{'x' * 65}", headers=bearer(settings, BOB))
    assert response.status_code == 403
    assert response.json() == {"error": "forbidden", "message": "you may not access this resource"}


# --- a rejected cancel -------------------------------------------------------------------------

INTERNAL_REASON = "row 42 at version 7 in /srv/paysaga/state.db; token=sk_live_abc"


@workflow.defn(name="SubscriptionWorkflow")
class RefusingSubscription:
    @workflow.run
    async def run(self, user_id: int) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def cancel(self, request: CancelSubscription) -> SubscriptionView:
        raise ApplicationError(INTERNAL_REASON, type="InternalState")


async def test_a_rejected_cancel_answers_a_fixed_message(make_settings, temporal_env, seed, caplog):
    settings = make_settings(temporal_address=temporal_env.client.service_client.config.target_host)
    async with Worker(
        temporal_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=[RefusingSubscription],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_env.client.start_workflow(
            RefusingSubscription.run, ALICE, id=subscription_workflow_id(ALICE), task_queue=settings.temporal_task_queue
        )
        try:
            async with serve(settings) as client:
                response = await client.post(
                    f"/api/subscriptions/{seed.alice_subscription}/cancel", headers=bearer(settings, ALICE)
                )
        finally:
            await handle.terminate()
    assert response.status_code == 409
    assert response.json() == {"error": "cancel_rejected", "message": "the subscription could not be cancelled"}
    assert "row 42" not in response.text and "sk_live" not in response.text
    assert "row 42 at version 7" in caplog.text  # the operator still learns why
