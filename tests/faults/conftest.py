"""A stack of its own for tests that crash and restart its processes."""
from __future__ import annotations

import itertools

import pytest

from devstack.stack import Stack
from tests.support.databases import create_postgres_database, drop_postgres_database, skip_unless_postgres, sqlite_url
from tests.support.stack import RunningStack, free_stack_config

_user_ids = itertools.count(50_000)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    backend = request.param
    var_dir = tmp_path_factory.mktemp(f"faults-{backend}")
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
    return next(_user_ids)
