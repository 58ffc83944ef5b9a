"""One real stack per database backend, shared by the end-to-end tests of that backend."""
from __future__ import annotations

import itertools

import pytest

from devstack.stack import Stack
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    skip_unless_postgres,
    sqlite_url,
)
from tests.support.stack import RunningStack, free_stack_config

_user_ids = itertools.count(1000)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    backend = request.param
    var_dir = tmp_path_factory.mktemp(f"stack-{backend}")
    if backend == "postgresql":
        skip_unless_postgres()
        database_url = create_postgres_database()
    else:
        database_url = sqlite_url(var_dir)
    running = Stack(free_stack_config(var_dir, database_url))
    running.start()
    try:
        yield RunningStack(running, backend)
    finally:
        running.stop()
        if backend == "postgresql":
            drop_postgres_database(database_url)


@pytest.fixture
def user_id() -> int:
    """A user of its own for each test, so tests never see each other's payments."""
    return next(_user_ids)


@pytest.fixture(autouse=True)
async def clean_knobs(stack):
    """Every test starts with a well-behaved MercadoPago, whatever the test before did to it."""
    from tests.e2e.purchases import reset_knobs

    await reset_knobs(stack)
    yield
    await reset_knobs(stack)
