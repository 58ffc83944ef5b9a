"""With PAYLOAD_ENCRYPTION_KEY set, what Temporal stores is ciphertext: a workflow history read
raw from the server holds no payer e-mail and no readable payload; the API's codec server
(the Temporal UI's decoder) gives the payloads back to an admin, old keys included."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from config.payload_codec import ENCODING, KEY_ID_METADATA, AesGcmCodec, parse_key
from tests.observability.observed import CURRENT_KEY, OLD_KEY, UI_ORIGIN
from tests.support.stack import token

# Readable by design: search attributes (the server indexes them), headers (trace context only),
# and the SDK's own marker bookkeeping (a local activity's sequence and times, a patch's id);
# a marker's `result` is a local activity's result, ours, and is encrypted.
UNENCRYPTED_BY_DESIGN = ("search_attributes", "header")


def encrypted_by_us(where: str) -> bool:
    if any(part in where for part in UNENCRYPTED_BY_DESIGN):
        return False
    return "marker_recorded_event_attributes.details[" not in where or "details[result]" in where


async def raw_history(address: str, workflow_id: str) -> History:
    client = await Client.connect(address)  # no codec: exactly what the server stores
    history, page = History(), b""
    while True:
        answer = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="default", execution=WorkflowExecution(workflow_id=workflow_id), next_page_token=page
            )
        )
        history.events.extend(answer.history.events)
        page = answer.next_page_token
        if not page:
            return history


def payloads_in(message: Message, path: str = "") -> list[tuple[str, Payload]]:
    """Every Payload in a history, with where it sits."""
    if isinstance(message, Payload):
        return [(path, message)]
    found = []
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [(f"{where}[{key}]", item) for key, item in value.items() if isinstance(item, Message)]
        elif field.is_repeated:
            items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
        else:
            items = [(where, value)]
        for item_path, item in items:
            found.extend(payloads_in(item, item_path))
    return found


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {token(1, roles=('admin',))}"}


async def test_history_at_rest_holds_no_plaintext(observed, purchase):
    email = purchase.payment["payer"]["email"].encode()
    reference = purchase.checkout["externalReference"].encode()
    workflows = [
        f"checkout-{purchase.checkout['checkoutId']}",
        f"payment-{purchase.payment['id']}",
        f"subscription-user-{purchase.user_id}",
    ]
    current_key_id = parse_key(CURRENT_KEY).key_id.encode()
    for workflow_id in workflows:
        history = await raw_history(observed.config.temporal_address, workflow_id)
        assert history.events, workflow_id
        assert email not in history.SerializeToString(), f"payer e-mail in {workflow_id}'s history"
        checked = 0
        for where, payload in payloads_in(history):
            if not encrypted_by_us(where):
                continue
            checked += 1
            assert payload.metadata.get("encoding") == ENCODING, (workflow_id, where, payload.metadata)
            assert payload.metadata.get(KEY_ID_METADATA) == current_key_id, (workflow_id, where)
            assert reference not in payload.data, (workflow_id, where)
        assert checked, f"no payload found in {workflow_id}"


async def test_codec_server_decodes_the_history_for_an_admin(observed, purchase):
    history = await raw_history(observed.config.temporal_address, f"checkout-{purchase.checkout['checkoutId']}")
    started = history.events[0].workflow_execution_started_event_attributes
    body = {"payloads": [json_format.MessageToDict(p) for p in started.input.payloads]}
    async with httpx.AsyncClient(base_url=observed.config.api_url) as client:
        answer = await client.post(
            "/codec/decode", json=body, headers={**admin(), "Origin": UI_ORIGIN, "X-Namespace": "default"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == UI_ORIGIN
    [decoded] = answer.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    checkout_input = json.loads(base64.b64decode(decoded["data"]))
    assert checkout_input["external_reference"] == purchase.checkout["externalReference"]


async def test_codec_server_decodes_what_an_older_key_wrote_and_encodes_with_the_current(observed):
    old_only = AesGcmCodec(parse_key(OLD_KEY))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"written before the rotation"')
    [sealed] = await old_only.encode([plain])
    async with httpx.AsyncClient(base_url=observed.config.api_url, headers=admin()) as client:
        decoded = await client.post("/codec/decode", json={"payloads": [json_format.MessageToDict(sealed)]})
        encoded = await client.post("/codec/encode", json={"payloads": [json_format.MessageToDict(plain)]})
    assert decoded.status_code == 200 and encoded.status_code == 200
    assert json_format.ParseDict(decoded.json()["payloads"][0], Payload()) == plain
    reencrypted = json_format.ParseDict(encoded.json()["payloads"][0], Payload())
    assert reencrypted.metadata[KEY_ID_METADATA] == parse_key(CURRENT_KEY).key_id.encode()
    assert await AesGcmCodec(parse_key(CURRENT_KEY)).decode([reencrypted]) == [plain]


async def test_codec_server_is_for_admins_and_the_ui_origin_only(observed):
    body = {"payloads": []}
    async with httpx.AsyncClient(base_url=observed.config.api_url) as client:
        assert (await client.post("/codec/decode", json=body)).status_code == 401
        user = {"Authorization": f"Bearer {token(5)}"}
        refused = await client.post("/codec/decode", json=body, headers=user)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        malformed = await client.post("/codec/decode", json={"nope": 1}, headers=admin())
        assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_payloads"
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }
        allowed = await client.options("/codec/decode", headers={**preflight, "Origin": UI_ORIGIN})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert "x-namespace" in allowed.headers["access-control-allow-headers"].lower()
        stranger = await client.options("/codec/decode", headers={**preflight, "Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in stranger.headers


async def test_the_temporal_cli_reads_the_history_through_the_codec_server(observed, purchase):
    from devstack.stack import temporal_binary

    workflow_id = f"checkout-{purchase.checkout['checkoutId']}"
    argv = [
        temporal_binary(),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
        "--address",
        observed.config.temporal_address,
        "--codec-endpoint",
        f"{observed.config.api_url}/codec",
        "--codec-auth",
        admin()["Authorization"],
    ]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    shown, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, errors.decode()
    started = json.loads(shown)["events"][0]["workflowExecutionStartedEventAttributes"]
    [decoded] = started["input"]["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(decoded["data"]))["external_reference"] == purchase.checkout["externalReference"]
