"""Bring a database to the newest schema (Alembic `upgrade head`), from any program.

The Alembic environment runs its own event loop (`asyncio.run`), so it always runs here in a
thread of its own: callable from plain scripts and from inside a running asyncio program.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config that needs no alembic.ini (works from any working directory)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # an attribute, not sqlalchemy.url: ini interpolation would mangle a '%' in a password
    config.attributes["database_url"] = database_url
    return config


def _upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def upgrade_to_head(database_url: str) -> None:
    """Blocking. Inside a running event loop prefer `upgrade_to_head_async` (this one blocks the loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _upgrade(database_url)
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _upgrade(database_url)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="alembic-upgrade")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


async def upgrade_to_head_async(database_url: str) -> None:
    await asyncio.to_thread(_upgrade, database_url)
