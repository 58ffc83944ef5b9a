"""audit log append-only in the database; the runtime role and its privileges (PostgreSQL)

PostgreSQL: a trigger refuses every UPDATE and TRUNCATE of audit_log, and any DELETE except the
retention purge's: a transaction that ran
    SELECT set_config('paysaga.audit_purge_before', '<ISO timestamp>', true)   -- i.e. SET LOCAL
may delete the rows that occurred before that moment, and no others.

The API and the worker connect as (a member of) the role `paysaga_runtime`, which does not own
the tables: it can read and write the read model, only read, insert and (for retention) delete
audit rows, and neither alter a table nor drop the trigger. Migrations run as the tables' owner.
The role is created here when missing (as NOLOGIN: give it a password, or grant it to the login
role the application uses); deploy/postgres-init.sql creates it beforehand for Docker Compose.

SQLite (the embedded default): a trigger refuses UPDATE of audit rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUNTIME_ROLE = "paysaga_runtime"
# what the running application does to each table, and nothing more
READ_WRITE = ("plans", "payment_preferences", "payments", "subscriptions", "subscription_ledger")
RETAINED = ("webhook_events", "events")  # read, written, and purged by retention (events: once delivered)
AUDIT = "audit_log"  # read, inserted, and purged by retention under the trigger's rule

# one statement each: asyncpg prepares every statement on its own
POSTGRES_GUARD = (
    """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    purge_before text := current_setting('paysaga.audit_purge_before', true);
BEGIN
    -- nested: OLD is unassigned in the statement-level TRUNCATE trigger
    IF TG_OP = 'DELETE' AND coalesce(purge_before, '') <> '' THEN
        IF OLD.occurred_at < purge_before::timestamptz THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only the retention purge deletes audit rows, older than paysaga.audit_purge_before';
END
$$
""",
    """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
""",
    """
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
""",
)

CREATE_RUNTIME_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
        CREATE ROLE {RUNTIME_ROLE} NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created meanwhile by a concurrent migration of another database
END
$$
"""

SQLITE_GUARD = """
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END
"""


def _grants() -> list[str]:
    role = RUNTIME_ROLE
    return [
        *(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {role}" for table in READ_WRITE),
        *(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}" for table in RETAINED),
        f"GRANT SELECT, INSERT, DELETE ON {AUDIT} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # tables and sequences later migrations create (as this same role) get the usual grants
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(SQLITE_GUARD)
        return
    if dialect != "postgresql":
        return
    for statement in POSTGRES_GUARD:
        op.execute(statement)
    op.execute(CREATE_RUNTIME_ROLE)
    for statement in _grants():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER audit_log_no_update")
        return
    if dialect != "postgresql":
        return
    role = RUNTIME_ROLE
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {role}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
    for table in (*READ_WRITE, *RETAINED, AUDIT):
        op.execute(f"REVOKE ALL ON {table} FROM {role}")
    # the role itself stays: it is shared by the cluster's databases
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
