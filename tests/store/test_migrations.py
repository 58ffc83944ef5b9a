"""The migrations build exactly the schema of store/models.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from store.database import create_engine
from store.migrate import alembic_config, upgrade_to_head, upgrade_to_head_async
from store.models import Base

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "plans",
    "payment_preferences",
    "payments",
    "subscriptions",
    "subscription_ledger",
    "webhook_events",
    "audit_log",
    "events",
}
HEAD = "0003"


async def schema_difference(url: str) -> list:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


async def schema_state(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            version = None
            if "alembic_version" in tables:
                version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            return tables - {"alembic_version"}, version
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(empty_database_url):
    await upgrade_to_head_async(empty_database_url)

    assert await schema_difference(empty_database_url) == []
    assert await schema_state(empty_database_url) == (TABLES, HEAD)


async def test_upgrade_is_idempotent_and_callable_inside_a_running_loop(empty_database_url):
    # the blocking form, from inside this test's running event loop, twice
    upgrade_to_head(empty_database_url)
    upgrade_to_head(empty_database_url)

    assert await schema_state(empty_database_url) == (TABLES, HEAD)


async def test_downgrade_to_base_and_back(empty_database_url):
    await upgrade_to_head_async(empty_database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(empty_database_url), "base")
    assert await schema_state(empty_database_url) == (set(), None)

    await upgrade_to_head_async(empty_database_url)
    assert await schema_difference(empty_database_url) == []


async def test_alembic_cli_reads_database_url(empty_database_url):
    """`alembic upgrade head` from the repository root, as operators run it (DATABASE_URL)."""
    environment = os.environ | {"DATABASE_URL": empty_database_url}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert await schema_state(empty_database_url) == (TABLES, HEAD)
