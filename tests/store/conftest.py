"""Fixtures of the store tests: every test runs on SQLite and on PostgreSQL.

Each test gets a database of its own, copied from one migrated per session and backend (a
PostgreSQL TEMPLATE, a copied SQLite file): isolated, and far faster than migrating every time.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.store import StoreActivities
from store.database import create_engine, create_session_factory
from store.migrate import upgrade_to_head
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    skip_unless_postgres,
    sqlite_url,
)

BACKENDS = ("sqlite", "postgresql")


class MigratedTemplates:
    """One migrated database per backend, made on first use, dropped at the end of the session."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._urls: dict[str, str] = {}

    def get(self, backend: str) -> str:
        if backend not in self._urls:
            url = sqlite_url(self._directory, "template.db") if backend == "sqlite" else create_postgres_database()
            upgrade_to_head(url)
            self._urls[backend] = url
        return self._urls[backend]

    def close(self) -> None:
        if "postgresql" in self._urls:
            drop_postgres_database(self._urls.pop("postgresql"))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql":
        skip_unless_postgres()
    return request.param


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database without any schema."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path)
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture
def database_url(backend: str, migrated_templates: MigratedTemplates, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema."""
    template = migrated_templates.get(backend)
    if backend == "sqlite":
        url = sqlite_url(tmp_path)
        shutil.copyfile(make_url(template).database, make_url(url).database)
        yield url
        return
    url = create_postgres_database(template=template)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> StoreActivities:
    return StoreActivities(sessions)
