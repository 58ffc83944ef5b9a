"""The stack under test: the embedded stack (SQLite) or the same on PostgreSQL, plus the floor's worker."""

from __future__ import annotations

import asyncio
import compileall
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from config.settings import PROJECT_ROOT
from devstack.processes import ManagedProcess, free_port
from devstack.stack import Stack, StackConfig

POSTGRES_ADMIN_URL = os.environ.get("PAYSAGA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class BenchStack:
    backend: str
    stack: Stack
    floor_worker: ManagedProcess

    @property
    def config(self) -> StackConfig:
        return self.stack.config

    def pid(self, name: str) -> int:
        process = self.stack.processes[name].process
        assert process is not None, f"{name} was never started"
        return process.pid


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _create_postgres_database() -> str:
    name = f"paysaga_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return (
        make_url(POSTGRES_ADMIN_URL)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


def _drop_postgres_database(url: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def precompile() -> None:
    """Bytecode for the project's modules, as a normal run (or the image) has it: the worker's
    sandbox imports the workflow modules afresh for every workflow, from source when none exists
    (PYTHONDONTWRITEBYTECODE)."""
    compileall.compile_dir(PROJECT_ROOT, quiet=1, rx=re.compile(r"(^|/)(\.venv|tests|var|test-artifacts)(/|$)"))


@contextmanager
def running(
    backend: str, var_dir: Path, env: dict[str, str] | None = None, *, temporal_tuned: bool = True
) -> Iterator[BenchStack]:
    """Start everything on free ports (Temporal keeps its state in a file, as `make run` does);
    `temporal_tuned=False`: the dev server with its default settings."""
    var_dir.mkdir(parents=True, exist_ok=True)
    precompile()
    database_url = _create_postgres_database() if backend == "postgresql" else None
    config = StackConfig(
        var_dir=var_dir,
        database_url=database_url,
        temporal_port=free_port(),
        temporal_ui_port=None,
        temporal_db_file=var_dir / "temporal.db",
        sandbox_port=free_port(),
        api_port=free_port(),
        worker_metrics_port=free_port(),
        env=env or {},
        temporal_tuned=temporal_tuned,
    )
    stack = Stack(config)
    ready_file = var_dir / "floor-worker.ready"
    ready_file.unlink(missing_ok=True)
    floor_worker = ManagedProcess(
        name="floor-worker",
        argv=[
            sys.executable,
            "-m",
            "bench.floor",
            "--address",
            config.temporal_address,
            "--ready-file",
            str(ready_file),
        ],
        env=dict(os.environ),
        cwd=PROJECT_ROOT,
        log_path=var_dir / "logs" / "floor-worker.log",
        ready=ready_file.exists,
    )
    try:
        stack.start()
        floor_worker.start()
        yield BenchStack(backend, stack, floor_worker)
    finally:
        floor_worker.stop()
        stack.stop()
        if database_url:
            _drop_postgres_database(database_url)
