"""initial read model: plans, checkouts, payments, subscriptions, ledger, webhook inbox, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of store.models' types: a revision never changes when the models do.
# money: exact NUMERIC on PostgreSQL, text on SQLite (its NUMERIC affinity would make it a float)
MONEY = sa.Numeric(precision=18, scale=2).with_variant(sa.String(length=40), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY is the rowid
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_cycle", sa.String(length=32), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )

    op.create_table(
        "payment_preferences",
        sa.Column("checkout_id", sa.String(length=64), nullable=False),
        sa.Column("external_reference", sa.String(length=128), nullable=False),
        sa.Column("preference_id", sa.String(length=128), nullable=True),
        sa.Column("init_point", sa.Text(), nullable=True),
        sa.Column("sandbox_init_point", sa.Text(), nullable=True),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("mercadopago_payment_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("checkout_id"),
        sa.UniqueConstraint("external_reference"),
    )
    op.create_index("ix_payment_preferences_user_id", "payment_preferences", ["user_id"])

    op.create_table(
        "payments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("mercadopago_payment_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("amount_refunded", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_detail", sa.String(length=128), nullable=True),
        sa.Column("external_reference", sa.String(length=128), nullable=True),
        sa.Column("payment_method", sa.String(length=64), nullable=True),
        sa.Column("payment_type", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("approved_at", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mercadopago_payment_id"),
    )
    op.create_index("ix_payments_external_reference", "payments", ["external_reference"])
    op.create_index("ix_payments_user_created", "payments", ["user_id", "created_at"])

    op.create_table(
        "subscriptions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("start_date", UTC, nullable=True),
        sa.Column("end_date", UTC, nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )

    op.create_table(
        "subscription_ledger",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("mercadopago_payment_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("period_start", UTC, nullable=False),
        sa.Column("period_end", UTC, nullable=False),
        sa.Column("reversed_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mercadopago_payment_id"),
    )
    op.create_index("ix_subscription_ledger_subscription_id", "subscription_ledger", ["subscription_id"])

    op.create_table(
        "webhook_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])

    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("mercadopago_payment_id", sa.String(length=64), nullable=True),
        sa.Column("external_reference", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])
    op.create_index("ix_audit_log_user_id", "audit_log", ["user_id"])


def downgrade() -> None:
    # indexes go with their tables; children before parents
    for table in (
        "audit_log",
        "webhook_events",
        "subscription_ledger",
        "subscriptions",
        "payments",
        "payment_preferences",
        "plans",
    ):
        op.drop_table(table)
