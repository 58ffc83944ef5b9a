"""The AES-GCM payload codec: round trips, rotation by key id, tampering, and key parsing."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from config.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    AesGcmCodec,
    InvalidKey,
    UndecodablePayload,
    new_key_text,
    parse_key,
    parse_keys,
)
from config.settings import ConfigurationError, Settings, load_settings
from config.temporal import data_converter

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"external_reference": "PLAN-1-USER-2-0123abcd"}')


async def test_round_trip_hides_everything_and_names_the_key():
    codec = AesGcmCodec(parse_key(new_key_text("k1")))
    [sealed] = await codec.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"PLAN-1" not in sealed.SerializeToString() and b"json/plain" not in sealed.data
    assert await codec.decode([sealed]) == [PLAIN]
    [again] = await codec.encode([PLAIN])
    assert again.data != sealed.data  # a fresh nonce each time


async def test_rotation_old_keys_still_decrypt_unknown_keys_are_named():
    old, new = new_key_text("2024"), new_key_text("2025")
    [written_before] = await AesGcmCodec(parse_key(old)).encode([PLAIN])
    rotated = AesGcmCodec(parse_key(new), parse_keys(old))
    assert await rotated.decode([written_before]) == [PLAIN]
    [written_after] = await rotated.encode([PLAIN])
    assert written_after.metadata[KEY_ID_METADATA] == b"2025"
    with pytest.raises(UndecodablePayload, match="2024"):
        await AesGcmCodec(parse_key(new)).decode([written_before])


async def test_tampering_and_a_swapped_key_id_do_not_verify():
    key = new_key_text("k1")
    codec = AesGcmCodec(parse_key(key), [parse_key("k2:" + key.partition(":")[2])])
    [sealed] = await codec.encode([PLAIN])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(UndecodablePayload):
            await codec.decode([bad])


async def test_unencrypted_payloads_pass_through_decoding():
    assert await AesGcmCodec(parse_key(new_key_text("k1"))).decode([PLAIN]) == [PLAIN]


@pytest.mark.parametrize(
    "text",
    [
        "nokeyid",
        ":" + base64.b64encode(b"x" * 32).decode(),
        "k1:not-base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        "bad id:" + base64.b64encode(b"x" * 32).decode(),
    ],
)
def test_malformed_keys_are_refused(text):
    with pytest.raises(InvalidKey):
        parse_key(text)


def test_settings_name_the_variable_and_never_echo_the_key(monkeypatch):
    secret = base64.b64encode(b"y" * 31).decode()
    monkeypatch.setenv("PAYLOAD_ENCRYPTION_KEY", f"k1:{secret}")
    with pytest.raises(ConfigurationError, match="PAYLOAD_ENCRYPTION_KEY") as refused:
        load_settings()
    assert secret not in str(refused.value)


def test_the_data_converter_encrypts_only_with_a_key():
    assert data_converter(Settings()).payload_codec is None
    assert isinstance(data_converter(Settings(payload_encryption_key=new_key_text("k1"))).payload_codec, AesGcmCodec)


def test_the_embedded_temporal_ui_decodes_through_the_api_when_a_key_is_set():
    from devstack.stack import Stack, StackConfig

    with_key = Stack(StackConfig(env={"PAYLOAD_ENCRYPTION_KEY": new_key_text("k1")}))
    argv = with_key._temporal().argv
    assert argv[argv.index("--ui-codec-endpoint") + 1] == f"{with_key.config.api_url}/codec"
    assert with_key.config.temporal_ui_url in with_key.app_env()["TEMPORAL_UI_ORIGIN"].split(",")
    assert "--ui-codec-endpoint" not in Stack(StackConfig())._temporal().argv
