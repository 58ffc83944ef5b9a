"""INSERT ... ON CONFLICT in the session's own dialect (PostgreSQL or SQLite).

Both dialects offer the same `on_conflict_do_update` / `on_conflict_do_nothing` API, so callers
write one statement and this module picks the construct that renders it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

_INSERTS: dict[str, Callable[[Any], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def dialect_insert(session: AsyncSession, model) -> postgresql.Insert | sqlite.Insert:
    name = session.get_bind().dialect.name
    try:
        return _INSERTS[name](model)
    except KeyError:
        raise NotImplementedError(f"no upsert for the {name} dialect (PostgreSQL and SQLite only)") from None


async def insert_if_absent(
    session: AsyncSession, model, values: dict[str, Any], *, key: Sequence[str], returning=None
) -> Any | None:
    """Insert unless a row with the same `key` exists. Returns `returning` of the new row, or
    None when the row was already there. Never raises on that key's conflict, even when a
    concurrent transaction inserts it first (PostgreSQL waits for it, SQLite serialises writers)."""
    returning = returning if returning is not None else model.__mapper__.primary_key[0]
    statement = (
        dialect_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(key))
        .returning(returning)
    )
    return (await session.execute(statement)).scalar_one_or_none()
