"""Codec server for the Temporal UI and CLI: decrypts (and encrypts) payloads with our keys.

Temporal's codec-server protocol: `POST /codec/decode` and `POST /codec/encode` with
`{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}` (protobuf's JSON
form of Payload), answered in the same shape. Admins only: decoding shows what the payloads
hold. CORS for the UI's origin (TEMPORAL_UI_ORIGIN) is handled in api/cors.py.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from api.deps import SettingsDep, UserDep
from api.errors import ApiError
from config.payload_codec import AesGcmCodec, UndecodablePayload, codec_from_settings

router = APIRouter(prefix="/codec", tags=["operators"])


def _codec(request: Request, settings) -> AesGcmCodec | None:
    state = request.app.state
    if not hasattr(state, "payload_codec"):
        state.payload_codec = codec_from_settings(settings)
    return state.payload_codec


async def _payloads(request: Request) -> list[Payload]:
    # the body's size is bounded before this reads it (MAX_CODEC_BODY_BYTES, api/body_limit.py)
    try:
        body = await request.json()
        items = body["payloads"]
        if not isinstance(items, list):
            raise TypeError("payloads must be a list")
        return [json_format.ParseDict(item, Payload()) for item in items]
    except (ValueError, KeyError, TypeError, json_format.ParseError):
        raise ApiError(400, "invalid_payloads", 'the body must be {"payloads": [...]} of Temporal payloads') from None


def _answer(payloads: list[Payload]) -> dict:
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def _require_admin(user) -> None:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "the codec server is for administrators")


@router.post("/decode")
async def decode(request: Request, user: UserDep, settings: SettingsDep) -> dict:
    _require_admin(user)
    payloads = await _payloads(request)
    codec = _codec(request, settings)
    if codec is None:
        return _answer(payloads)  # nothing is encrypted here
    try:
        return _answer(await codec.decode(payloads))
    except UndecodablePayload as exc:
        raise ApiError(422, "undecodable_payload", str(exc)) from None


@router.post("/encode")
async def encode(request: Request, user: UserDep, settings: SettingsDep) -> dict:
    _require_admin(user)
    payloads = await _payloads(request)
    codec = _codec(request, settings)
    return _answer(payloads if codec is None else await codec.encode(payloads))
