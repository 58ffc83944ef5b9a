"""Throw-away databases for tests: a fresh PostgreSQL database or SQLite file per use.

PostgreSQL is found at PAYSAGA_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth).
Tests skip PostgreSQL when it is unreachable, unless PAYSAGA_REQUIRE_POSTGRES is set: then
they fail, so CI can never pass by silently skipping it.

The helpers are synchronous and run their asyncpg calls on a thread of their own, so they work
from plain and from async fixtures alike.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import threading
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("PAYSAGA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = "PAYSAGA_REQUIRE_POSTGRES"


def _run(coroutine_factory):
    """Run an async call to completion on a new thread (there may be a loop running here)."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine_factory())
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-postgres-admin")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _dsn(url: str) -> str:
    """asyncpg speaks plain postgresql:// URLs, not SQLAlchemy's +asyncpg ones."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(statement: str, timeout: float = 10) -> None:
    connection = await asyncpg.connect(_dsn(ADMIN_URL), timeout=timeout)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@functools.cache
def postgres_available() -> bool:
    try:
        _run(lambda: _admin("SELECT 1", timeout=3))
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    return True


def postgres_required() -> bool:
    return bool(os.environ.get(REQUIRE_POSTGRES))


def skip_unless_postgres() -> None:
    """In a test or fixture: skip when PostgreSQL is unreachable, or fail if it is required."""
    import pytest

    if postgres_available():
        return
    message = f"PostgreSQL unreachable at {make_url(ADMIN_URL).render_as_string()}"
    if postgres_required():
        pytest.fail(f"{message} and {REQUIRE_POSTGRES} is set")
    pytest.skip(message)


def create_postgres_database(template: str | None = None) -> str:
    """A new, empty database (or a copy of `template`, a database URL). Returns its asyncpg URL."""
    name = f"paysaga_test_{secrets.token_hex(6)}"
    statement = f'CREATE DATABASE "{name}"'
    if template:
        statement += f' TEMPLATE "{make_url(template).database}"'
    _run(lambda: _admin(statement))
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    if not name or not name.startswith("paysaga_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    # FORCE: a test that failed half-way may have left connections open
    _run(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(tmp_path: Path | str, name: str = "paysaga.db") -> str:
    return f"sqlite+aiosqlite:///{Path(tmp_path) / name}"
