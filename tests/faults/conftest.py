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


@pytest.fixture(scope="session")
def proxied_stack(tmp_path_factory):
    """One stack for the costly fault tests (outages, restarts during bursts), on one backend.

    On PostgreSQL (always in CI) the stack reaches its database through a loopback proxy whose
    link a test can cut; the proxy is None on SQLite. The MercadoPago timeout and circuit breaker
    are short, so that outages of a few seconds show what a minute would."""
    from sqlalchemy.engine import make_url

    from tests.support.databases import (
        create_postgres_database,
        drop_postgres_database,
        postgres_available,
        postgres_required,
    )
    from tests.support.one_stack import one_backend_stack
    from tests.support.tcp_proxy import TcpProxy

    env = {
        "CHECKOUT_DEADLINE": "PT10M",
        "MERCADOPAGO_TIMEOUT_SECONDS": "2",
        "MERCADOPAGO_BREAKER_FAILURES": "3",
        "MERCADOPAGO_BREAKER_COOLDOWN_SECONDS": "3",
    }
    var_dir = tmp_path_factory.mktemp("faults-shared")
    if not (postgres_available() or postgres_required()):
        yield from ((running, None) for running in one_backend_stack(var_dir, env=env, postgres=False))
        return
    database_url = create_postgres_database()
    target = make_url(database_url)
    proxy = TcpProxy(target.host, target.port or 5432)
    proxy.start()
    try:
        proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
        yield from (
            (running, proxy) for running in one_backend_stack(var_dir, env=env, database_url=proxied, postgres=True)
        )
    finally:
        proxy.stop()
        drop_postgres_database(database_url)
