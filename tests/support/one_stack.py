"""A stack on one backend only, for the costly tests (load, faults): PostgreSQL when it is
reachable (always in CI), else SQLite. Yields a RunningStack, then stops and cleans up."""

from __future__ import annotations

from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
    postgres_required,
    sqlite_url,
)
from tests.support.stack import RunningStack, started_stack


def one_backend_stack(
    var_dir, env: dict[str, str] | None = None, database_url: str | None = None, postgres: bool | None = None
):
    """`database_url` (with `postgres` saying what it is) replaces the fresh database."""
    if postgres is None:
        postgres = postgres_available() or postgres_required()
    owned = database_url is None
    if owned:
        database_url = create_postgres_database() if postgres else sqlite_url(var_dir)
    running = None
    try:
        running = started_stack(var_dir, database_url, env=env)
        yield RunningStack(running, "postgresql" if postgres else "sqlite")
    finally:
        if running is not None:
            running.stop()
        if postgres and owned:
            drop_postgres_database(database_url)
