"""A stack of its own for tests that crash and restart its processes."""
from __future__ import annotations

import itertools

import pytest

from tests.support.stack import stack_on

_user_ids = itertools.count(50_000)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    with stack_on(request.param, tmp_path_factory.mktemp(f"faults-{request.param}")) as running:
        yield running


@pytest.fixture
def user_id() -> int:
    return next(_user_ids)
