"""Payer data stays at MercadoPago: after a purchase, no table of the read model and no payload
of its workflows holds the payer's e-mail, name or identity document."""

from __future__ import annotations

import base64
import re

from sqlalchemy import inspect as schema_inspect
from sqlalchemy import text

from store.database import create_engine
from tests.e2e.purchases import new_checkout, pay, sandbox_payment, wait_subscription
from workflows.ids import checkout_workflow_id, payment_workflow_id, subscription_workflow_id


async def _all_rows_text(stack) -> str:
    """Every value of every row of every table, as text."""
    engine = create_engine(stack.config.database)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: schema_inspect(sync).get_table_names())
            dumped = []
            for table in tables:
                result = await connection.execute(text(f'SELECT * FROM "{table}"'))
                dumped += [repr(tuple(row)) for row in result]
    finally:
        await engine.dispose()
    return "\n".join(dumped)


async def test_no_payer_personal_data_is_stored(stack, user_id):
    checkout = await new_checkout(stack, user_id)
    payment = await pay(stack, checkout["preferenceId"])
    await wait_subscription(stack, user_id, "ACTIVE")
    payer = (await sandbox_payment(stack, payment["id"]))["payer"]
    personal = [
        payer["email"],
        payer["first_name"] + " " + payer["last_name"],
        payer["last_name"],
        payer["identification"]["number"],
    ]
    assert all(personal)

    stored = await _all_rows_text(stack)
    assert str(payment["id"]) in stored  # the scan does see this purchase's rows
    for value in personal:
        assert not _contains(stored, value), f"payer data {value!r} stored in the read model"

    client = await stack.temporal()
    for workflow_id in (
        checkout_workflow_id(checkout["checkoutId"]),
        payment_workflow_id(str(payment["id"])),
        subscription_workflow_id(user_id),
    ):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        payloads = "\n".join(_payloads(history.to_json_dict()))
        assert payloads  # the scan does see the workflow's inputs and results
        for value in personal:
            assert not _contains(payloads, value), f"payer data {value!r} in {workflow_id}'s history"


def _payloads(node) -> list[str]:
    """The decoded data of every payload in a history (JSON form: base64 `data` beside `metadata`)."""
    if isinstance(node, list):
        return [text for item in node for text in _payloads(item)]
    if not isinstance(node, dict):
        return []
    if "metadata" in node and isinstance(node.get("data"), str):
        return [base64.b64decode(node["data"]).decode("utf-8", "replace")]
    return [text for value in node.values() for text in _payloads(value)]


def _contains(haystack: str, value: str) -> bool:
    """As a whole value: a document number inside a longer number (an id) is not it."""
    return re.search(rf"(?<![\w@.]){re.escape(value)}(?![\w])", haystack) is not None
