"""One stack for the load tests, on one backend: PostgreSQL when reachable, else SQLite."""

from __future__ import annotations

import pytest

from tests.support.one_stack import one_backend_stack

# a burst's checkouts must not reach their deadline while the burst is still being sent
LOAD_ENV = {"CHECKOUT_DEADLINE": "PT15M"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from one_backend_stack(tmp_path_factory.mktemp("load"), env=LOAD_ENV)
