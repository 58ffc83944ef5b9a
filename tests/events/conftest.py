"""The store tests' fixtures (a fresh migrated database per test, SQLite and PostgreSQL)."""

from tests.store.conftest import (  # noqa: F401 - fixtures, found by name
    backend,
    database_url,
    empty_database_url,
    engine,
    migrated_templates,
    sessions,
    store,
)
