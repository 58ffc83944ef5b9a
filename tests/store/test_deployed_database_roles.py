"""deploy/postgres-init.sql as the compose stack runs it, in a PostgreSQL cluster of its own
(initdb, superuser `temporal`, the script through `psql -f` like the image's entrypoint): the owner
role migrates without being a superuser, and the runtime role the API and the workers log in as
runs the store and the retention purge, but cannot rewrite the audit log nor change the schema."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from activities.retention import RetentionActivities
from activities.store import StoreActivities
from config.settings import PROJECT_ROOT
from store.database import create_engine, create_session_factory
from store.migrate import upgrade_to_head_async
from store.models import AuditRow, utcnow
from store.records import AuditRecord
from tests.support.databases import postgres_required
from workflows.retention_messages import PurgeBatch

from . import builders

INIT_SQL = PROJECT_ROOT / "deploy" / "postgres-init.sql"


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        candidate = Path(subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A fresh cluster initialised with deploy/postgres-init.sql; yields `host:port`."""
    bindir = _bindir()
    if bindir is None:
        if postgres_required():
            pytest.fail("PostgreSQL's initdb is not installed")
        pytest.skip("PostgreSQL's initdb is not installed")
    # PostgreSQL refuses to run as root: its files and processes belong to the postgres user then
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    directory = Path(tempfile.mkdtemp(prefix="paysaga-pg-"))
    if as_root:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    data, port = directory / "data", _free_port()

    def run(*command: str) -> None:
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "temporal", "--auth=trust", "-E", "UTF8")
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(directory / "log"),
            "start",
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off",
        )
        try:
            init = subprocess.run(
                [
                    str(bindir / "psql"),
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "temporal",
                    "-d",
                    "postgres",
                    "-f",
                    str(INIT_SQL),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert init.returncode == 0, init.stderr
            yield f"127.0.0.1:{port}"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def url(cluster: str, role: str) -> str:
    return f"postgresql+asyncpg://{role}:{role}@{cluster}/paysaga"


async def test_the_owner_migrates_and_the_runtime_role_runs_the_application_only(cluster):
    await upgrade_to_head_async(url(cluster, "paysaga_owner"))
    await upgrade_to_head_async(url(cluster, "paysaga_owner"))  # a later deploy: nothing to do

    runtime = create_engine(url(cluster, "paysaga_runtime"))
    try:
        sessions = create_session_factory(runtime)
        store = StoreActivities(sessions)
        await store.save_checkout(builders.checkout())
        await store.save_payment(builders.payment())
        await store.save_subscription(builders.subscription(1, ledger_changes=(builders.ledger("p1"),)))
        await store.record_audit(
            AuditRecord(
                dedup_key="checkout:chk-1:created",
                actor="checkout/chk-1",
                action="checkout.created",
                user_id=7,
                detail={},
            )
        )
        async with sessions() as session, session.begin():
            session.add(
                AuditRow(
                    occurred_at=utcnow() - timedelta(days=400),
                    dedup_key="old",
                    actor="test",
                    action="payment.recorded",
                    detail={},
                )
            )

        retention = RetentionActivities(sessions, inbox_days=90, audit_days=365)
        assert (await retention.purge_audit(PurgeBatch(limit=10))).deleted == 1
        await retention.purge_inbox(PurgeBatch(limit=10))
        await retention.purge_events(PurgeBatch(limit=10))

        for statement, reason in {
            "UPDATE audit_log SET action = 'x'": "permission denied",
            "DELETE FROM audit_log": "append-only",
            "ALTER TABLE audit_log DISABLE TRIGGER USER": "must be owner",
            "ALTER TABLE payments ADD COLUMN note text": "must be owner",
            "CREATE TABLE shadow (id int)": "permission denied",
            "UPDATE alembic_version SET version_num = '0001'": "permission denied",
        }.items():
            with pytest.raises(DBAPIError, match=reason):
                async with runtime.begin() as connection:
                    await connection.execute(text(statement))
        async with runtime.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(AuditRow)) == 1
    finally:
        await runtime.dispose()
