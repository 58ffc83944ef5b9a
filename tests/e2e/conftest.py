"""One real stack per database backend, shared by the end-to-end tests of that backend."""

from __future__ import annotations

import itertools

import pytest

from tests.support.stack import stack_on

_user_ids = itertools.count(1000)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory):
    with stack_on(request.param, tmp_path_factory.mktemp(f"stack-{request.param}")) as running:
        yield running


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
