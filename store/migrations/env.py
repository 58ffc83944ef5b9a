"""Alembic environment: async engines, PostgreSQL (asyncpg) and SQLite (aiosqlite).

Where the database is, first match wins:
  1. `config.attributes["connection"]`: an open synchronous Connection (e.g. from `run_sync`);
  2. `config.attributes["database_url"]` (store.migrate sets it);
  3. `alembic -x url=<async url> ...`;
  4. `DATABASE_URL`, through config.settings.Settings (its default is the dev SQLite file).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from store.models import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata

# Only the CLI configures logging; a program that migrates itself keeps its own logging.
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from config.settings import Settings

    return Settings().database_url


def render_item(type_, obj, autogen_context):
    # Revisions stay independent of application code: UtcDateTime is stored as DateTime(timezone=True).
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**kwargs) -> None:
    is_sqlite = kwargs.pop("dialect_name") == "sqlite"
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        # SQLite alters tables by copying them: batch mode does that for us.
        render_as_batch=is_sqlite,
        **kwargs,
    )


def run_with(connection: Connection) -> None:
    configure(connection=connection, dialect_name=connection.dialect.name)
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # NullPool: nothing stays connected afterwards (a PostgreSQL template stays copyable).
    engine = create_async_engine(parsed, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with)
    finally:
        await engine.dispose()


def run_offline() -> None:
    url = make_url(database_url())
    configure(url=url, dialect_name=url.get_backend_name(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
    else:
        # store.migrate runs this in a thread of its own, so there is never a running loop here.
        asyncio.run(run_async(database_url()))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
