"""The real stack for end-to-end tests: Temporal dev server, sandbox, API (uvicorn), worker."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
from sqlalchemy import text

from config.settings import DEV_JWT_SECRET
from devstack.processes import StartupError, free_port
from devstack.stack import Stack, StackConfig
from store.database import create_engine

TEST_PLANS = Path(__file__).with_name("plans.json")

# Durations short enough for tests, long enough not to race them.
TEST_ENV = {
    "CHECKOUT_DEADLINE": "PT8S",
    "PAYMENT_ROUTER_IDLE": "PT2S",
    "MERCADOPAGO_TIMEOUT_SECONDS": "3",
    "SUBSCRIPTION_CONTINUE_AS_NEW_AFTER": "3",
    "PLANS_FILE": str(TEST_PLANS),
    # these tests are about what happens, not how fast: a checkout waits for its preference (a cold
    # worker on a loaded machine can take seconds). tests/load/test_overload.py keeps the default.
    "CHECKOUT_ANSWER_TIMEOUT": "PT10S",
}


def token(user_id: int, *, roles: tuple[str, ...] = (), secret: str = DEV_JWT_SECRET) -> str:
    claims = {"sub": str(user_id), "exp": datetime.now(UTC) + timedelta(hours=1)}
    if roles:
        claims["roles"] = list(roles)
    return jwt.encode(claims, secret, algorithm="HS256")


def free_stack_config(var_dir, database_url: str, env: dict[str, str] | None = None) -> StackConfig:
    return StackConfig(
        var_dir=var_dir,
        database_url=database_url,
        temporal_port=free_port(),
        temporal_ui_port=None,
        sandbox_port=free_port(),
        api_port=free_port(),
        worker_metrics_port=free_port(),
        temporal_db_file=Path(var_dir) / "temporal.db",  # survives a restart of the server
        env={**TEST_ENV, **(env or {})},
    )


def started_stack(var_dir, database_url: str, env: dict[str, str] | None = None, attempts: int = 3) -> Stack:
    """A started stack on ports that were free a moment before. Another process may take one of
    them first (outgoing connections draw from the same range), so a stack that lost a port to
    one is started again on fresh ports; any other failure stands."""
    for attempt in range(1, attempts + 1):
        stack = Stack(free_stack_config(var_dir, database_url, env))
        try:
            stack.start()
            return stack
        except StartupError as error:
            if attempt == attempts or not _lost_a_port(error, Path(var_dir)):
                raise
        for leftover in Path(var_dir).glob("temporal.db*"):  # the failed server's, possibly half made
            leftover.unlink()
    raise AssertionError("unreachable")


def _lost_a_port(error: StartupError, var_dir: Path) -> bool:
    """Taken before the stack looked (its own check says so) or before a process bound it (its log does)."""
    if "already in use" in str(error):
        return True
    logs = (var_dir / "logs").glob("*.log")
    return any("address already in use" in log.read_text(errors="replace") for log in logs)


@dataclass
class RunningStack:
    stack: Stack
    backend: str

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    def api(self, user_id: int | None = None, *, roles: tuple[str, ...] = ()) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token(user_id, roles=roles)}"} if user_id is not None else {}
        return httpx.AsyncClient(base_url=self.config.api_url, headers=headers, timeout=15)

    def sandbox(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.config.sandbox_url, timeout=15)

    async def rows(self, sql: str, **params) -> list[dict]:
        """Read the database directly: what the API does not show (ledger, audit, inbox)."""
        engine = create_engine(self.config.database)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    async def temporal(self):
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        return await Client.connect(self.config.temporal_address, data_converter=pydantic_data_converter)


@contextmanager
def stack_on(backend: str, var_dir: Path, env: dict[str, str] | None = None):
    """A running stack on a fresh database of `backend` ("sqlite" or "postgresql"), removed after use."""
    from tests.support.databases import (
        create_postgres_database,
        drop_postgres_database,
        skip_unless_postgres,
        sqlite_url,
    )

    if backend == "postgresql":
        skip_unless_postgres()
        database_url = create_postgres_database()
    else:
        database_url = sqlite_url(var_dir)
    running = None
    try:
        running = started_stack(var_dir, database_url, env)
        yield RunningStack(running, backend)
    finally:
        if running is not None:
            running.stop()
        if backend == "postgresql":
            drop_postgres_database(database_url)
