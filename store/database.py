"""Engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite).

A database that cannot be reached surfaces as `DatabaseUnavailable` (or an error for which
`is_database_unavailable` is true) within the configured bounds, never as a hang: callers
answer "retry later" instead of waiting on a dead peer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


class DatabaseUnavailable(Exception):
    """The database could not be reached: a connection could not be opened, or a command got no
    answer within its timeout."""


@dataclass(frozen=True)
class DatabaseTimeouts:
    """Bounds on waiting for PostgreSQL. None keeps the driver's default (asyncpg: 60 s to
    connect, no command timeout). SQLAlchemy's pool waits 30 s for a free connection."""

    connect_seconds: float | None = None
    command_seconds: float | None = None
    pool_seconds: float = 30.0


def create_engine(database_url: str, timeouts: DatabaseTimeouts = DatabaseTimeouts()) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, float] = {}
    if timeouts.connect_seconds is not None:
        connect_args["timeout"] = timeouts.connect_seconds
    if timeouts.command_seconds is not None:
        connect_args["command_timeout"] = timeouts.command_seconds
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=timeouts.pool_seconds,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    event.listen(engine.sync_engine, "handle_error", _command_timeout_is_unavailable)
    return engine


def _connect_or_unavailable(dialect, _record, cargs, cparams):
    # asyncpg's connect failures (refused, timed out, "not accepting connections") are no DBAPI
    # errors, so SQLAlchemy lets them through raw; name them once here, where they are certain
    try:
        return dialect.connect(*cargs, **cparams)
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot connect to the database: {type(exc).__name__}: {exc}") from exc


def _command_timeout_is_unavailable(context):
    # asyncpg's command_timeout raises a bare TimeoutError from the statement
    if isinstance(context.original_exception, TimeoutError):
        return DatabaseUnavailable("the database did not answer within its command timeout")
    return None


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database is down or overloaded (retry later), not that a
    statement is wrong."""
    if isinstance(exc, (DatabaseUnavailable, sa_exc.TimeoutError)):  # the latter: no free pooled connection
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:  # the connection dropped under the statement
            return True
        # SQLite: another process holds the write lock past busy_timeout, or the file is gone
        message = str(exc.orig).lower()
        return "database is locked" in message or "unable to open database file" in message
    return False


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the API read while the worker writes; busy_timeout waits instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
