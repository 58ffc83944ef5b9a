"""PostgreSQL unreachable for 20 s in the middle of sagas: webhooks are still accepted (Temporal
holds them), /readyz says the database is not ok, activities retry, and once it is back every
payment is applied exactly once.

And each way a database can be down (nothing listening, a peer that accepts and never answers,
the link cut, connections terminated and refused) answers an API read with a 503
`database_unavailable` and Retry-After within 2 s, never a hang or a 500.

The machine's PostgreSQL keeps running (others use it): the stack reaches it through a loopback
proxy whose link is cut. PAYSAGA_DB_OUTAGE_SECONDS sets the outage (20 s).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest
from sqlalchemy.engine import make_url

from config.settings import Settings
from store.database import create_engine
from store.models import Base
from tests.api.helpers import ALICE, bearer, serve
from tests.e2e.purchases import ledger, new_checkout, wait_subscription
from tests.load.burst import send_webhook
from tests.support.databases import (
    _admin,
    _run,
    create_postgres_database,
    drop_postgres_database,
    skip_unless_postgres,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually

OUTAGE_SECONDS = float(os.environ.get("PAYSAGA_DB_OUTAGE_SECONDS", "20"))
USERS = range(830_000, 830_010)
ANSWER_WITHIN_SECONDS = 2.0  # an API read while the database is down answers within this


@pytest.fixture(scope="module")
def stack(proxied_stack):
    skip_unless_postgres()
    return proxied_stack[0]


@pytest.fixture(scope="module")
def link(proxied_stack) -> TcpProxy:
    return proxied_stack[1]


async def readiness(stack) -> tuple[int, dict]:
    async with stack.api() as api:
        answer = await api.get("/readyz")
    return answer.status_code, answer.json()


async def test_database_unreachable_mid_saga_loses_nothing(stack, link, capsys):
    payments = []
    for user_id in USERS:
        checkout = await new_checkout(stack, user_id)
        async with stack.sandbox() as sandbox:
            paid = await sandbox.post(
                "/sandbox/payments",
                json={"preference_id": checkout["preferenceId"], "status": "approved", "notify": False},
            )
        payments.append(str(paid.json()["id"]))
    assert (await readiness(stack))[0] == 200

    link.cut()
    started = time.monotonic()
    try:
        status, body = await eventually(lambda: _not_ready(stack), timeout=10, what="/readyz reporting the database")
        assert status == 503 and body["database"] == "unavailable" and body["temporal"] == "ok"
        assert body["error"] == "not_ready"
        # MercadoPago's notifications are accepted meanwhile: Temporal holds them, not the database
        answers = await asyncio.gather(*(send_webhook(stack, payment_id) for payment_id in payments))
        assert [a.status_code for a in answers] == [200] * len(payments)
        # reads answer at once that the database is away, and when to come back
        async with stack.api(USERS[0]) as api:
            asked = time.monotonic()
            read = await api.get(f"/api/payments/user/{USERS[0]}")
        assert time.monotonic() - asked < ANSWER_WITHIN_SECONDS
        assert read.status_code == 503 and read.json()["error"] == "database_unavailable"
        assert "Retry-After" in read.headers
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))  # the outage itself
        assert (await readiness(stack))[0] == 503
    finally:
        link.restore()
    back = time.monotonic()

    await eventually(lambda: _ready(stack), timeout=15, what="/readyz ready again")
    for user_id in USERS:
        await wait_subscription(stack, user_id, "ACTIVE", timeout=90)
    for user_id in USERS:
        assert len(await ledger(stack, user_id)) == 1
    with capsys.disabled():
        print(
            f"\nPostgreSQL cut for {back - started:.0f}s ({link.refused} connections refused): "
            f"{len(payments)} payments applied once, {time.monotonic() - back:.1f}s after it came back"
        )


async def _not_ready(stack):
    status, body = await readiness(stack)
    return (status, body) if status == 503 else None


async def _ready(stack):
    return (await readiness(stack))[0] == 200


# --- an API read while the database is down: 503 with Retry-After within 2 s ------------------


def _api_settings(database_url: str) -> Settings:
    with socket.socket() as sock:  # Temporal down too: only the database matters here
        sock.bind(("127.0.0.1", 0))
        temporal_port = sock.getsockname()[1]
    return Settings(
        app_env="development",
        database_url=database_url,
        temporal_address=f"127.0.0.1:{temporal_port}",
        auth_jwt_secret="outage-tests-jwt-secret-0123456789abcdef",
    )


async def _read_while_down(settings: Settings, client, readiness_too: bool = True) -> None:
    """A read and /readyz, each answered within 2 s, saying the database is unavailable."""
    for _ in range(2):  # the second read finds no connection left over from the first
        started = time.monotonic()
        response = await client.get(f"/api/payments/user/{ALICE}", headers=bearer(settings, ALICE))
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json() == {
            "error": "database_unavailable",
            "message": "the database is unavailable; retry later",
        }
        assert int(response.headers["Retry-After"]) > 0
        assert elapsed < ANSWER_WITHIN_SECONDS, f"answered after {elapsed:.2f}s"
    if not readiness_too:
        return
    started = time.monotonic()
    ready = await client.get("/readyz")
    assert time.monotonic() - started < ANSWER_WITHIN_SECONDS
    assert ready.status_code == 503 and ready.json()["database"] == "unavailable"


@pytest.fixture
async def silent_port():
    """A port whose server accepts connections and never says a word (a peer that hangs)."""
    held = []

    async def accept(_reader, writer):
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_read_with_nothing_listening_answers_503_at_once(closed_port):
    settings = _api_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/paysaga")
    async with serve(settings) as client:
        await _read_while_down(settings, client)


async def test_a_read_from_a_database_that_never_answers_answers_503_within_2s(silent_port):
    settings = _api_settings(f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/paysaga")
    async with serve(settings) as client:
        await _read_while_down(settings, client)


@pytest.fixture
async def live_postgres():
    """A real PostgreSQL database with the read model's tables."""
    skip_unless_postgres()
    url = create_postgres_database()
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        await engine.dispose()
        yield url
    finally:
        await engine.dispose()
        drop_postgres_database(url)


async def _read_works(settings: Settings, client) -> None:
    response = await client.get(f"/api/payments/user/{ALICE}", headers=bearer(settings, ALICE))
    assert response.status_code == 200 and response.json() == []


async def test_a_read_while_the_link_to_postgres_is_cut_answers_503_within_2s(live_postgres):
    target = make_url(live_postgres)
    proxy = TcpProxy(target.host, target.port or 5432)
    proxy.start()
    try:
        settings = _api_settings(target.set(port=proxy.port).render_as_string(hide_password=False))
        async with serve(settings) as client:
            await _read_works(settings, client)  # a pooled connection, now cut under it
            proxy.cut()
            await _read_while_down(settings, client)
            proxy.restore()
            await eventually(lambda: _answers_200(settings, client), timeout=10, what="reads after the link is back")
    finally:
        proxy.stop()


async def test_a_read_while_postgres_terminates_and_refuses_connections_answers_503_within_2s(live_postgres):
    name = make_url(live_postgres).database
    settings = _api_settings(live_postgres)
    async with serve(settings) as client:
        await _read_works(settings, client)
        # as an administrator taking the database away: new connections refused, open ones killed
        _run(lambda: _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        _run(lambda: _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        try:
            await _read_while_down(settings, client)
        finally:
            _run(lambda: _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        await eventually(lambda: _answers_200(settings, client), timeout=10, what="reads after the database is back")


async def test_a_read_blocked_inside_postgres_answers_503_after_the_command_timeout(live_postgres):
    """Connections open, but the statement waits behind a lock nobody releases: the command
    timeout ends the wait (1 s here, DATABASE_COMMAND_TIMEOUT_SECONDS)."""
    import asyncpg

    from tests.support.databases import _dsn

    settings = _api_settings(live_postgres).model_copy(update={"database_command_timeout_seconds": 1.0})
    blocker = await asyncpg.connect(_dsn(live_postgres))
    try:
        async with serve(settings) as client:
            await _read_works(settings, client)
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE payments IN ACCESS EXCLUSIVE MODE")
            try:
                # (readiness stays ok: the server answers, only this table is held)
                await _read_while_down(settings, client, readiness_too=False)
            finally:
                await transaction.rollback()
            await _read_works(settings, client)
    finally:
        await blocker.close()


async def _answers_200(settings: Settings, client) -> bool:
    response = await client.get(f"/api/payments/user/{ALICE}", headers=bearer(settings, ALICE))
    return response.status_code == 200


def test_a_locked_sqlite_database_counts_as_unavailable_and_a_wrong_statement_does_not(tmp_path):
    """What the 503 is decided on: SQLite's "database is locked" (a writer holding it past the
    busy timeout) is an outage; a statement against a missing table is a bug (500)."""
    import sqlalchemy
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import text

    from store.database import is_database_unavailable

    path = tmp_path / "locked.db"
    holder = sqlalchemy.create_engine(f"sqlite:///{path}")
    waiter = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with holder.connect() as holding:
            holding.execute(text("CREATE TABLE t (x INTEGER)"))
            holding.commit()
            holding.exec_driver_sql("BEGIN EXCLUSIVE")
            with waiter.connect() as waiting, pytest.raises(sa_exc.OperationalError) as locked:
                waiting.execute(text("INSERT INTO t VALUES (1)"))
            holding.rollback()
        with waiter.connect() as connection, pytest.raises(sa_exc.OperationalError) as missing:
            connection.execute(text("SELECT * FROM no_such_table"))
    finally:
        holder.dispose()
        waiter.dispose()
    assert is_database_unavailable(locked.value)
    assert not is_database_unavailable(missing.value)
