"""AES-GCM encryption of workflow payloads at rest in Temporal, with key rotation.

`PAYLOAD_ENCRYPTION_KEY=<key-id>:<base64 of 32 bytes>` encrypts every payload the API and the
worker write; the key id travels in the payload's metadata, so after a rotation the old key,
listed in `PAYLOAD_DECRYPTION_KEYS`, still decrypts what it wrote. Without a key payloads stay
as they are (and the process warns once).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

log = logging.getLogger("paysaga.codec")

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class InvalidKey(ValueError):
    """A key that is not `<key-id>:<base64 of 32 bytes>`."""


class UndecodablePayload(ValueError):
    """An encrypted payload whose key is unknown here, or whose ciphertext does not verify."""


@dataclass(frozen=True)
class EncryptionKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print the secret
        return f"EncryptionKey({self.key_id!r})"


def parse_key(text: str) -> EncryptionKey:
    key_id, separator, encoded = text.strip().partition(":")
    if not separator or not _KEY_ID.match(key_id):
        raise InvalidKey("must be <key-id>:<base64 of 32 bytes>, the key id made of letters, digits, . _ -")
    try:
        secret = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey(f"key {key_id!r} is not valid base64") from None
    if len(secret) != 32:
        raise InvalidKey(f"key {key_id!r} must decode to 32 bytes, not {len(secret)}")
    return EncryptionKey(key_id, secret)


def parse_keys(text: str | None) -> list[EncryptionKey]:
    """A comma-separated list of keys (`PAYLOAD_DECRYPTION_KEYS`); empty entries are ignored."""
    return [parse_key(item) for item in (text or "").split(",") if item.strip()]


def new_key_text(key_id: str) -> str:
    """A fresh key in the environment variable's form (for operators and tests)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class AesGcmCodec(PayloadCodec):
    """Encrypts with the current key; decrypts with any key it knows by id.

    The whole Payload (metadata and data) is serialized and encrypted, so nothing of the
    original, not even its encoding, is readable at rest. The key id is bound to the
    ciphertext as associated data: a payload cannot be passed off under another key's id.
    """

    def __init__(self, current: EncryptionKey, older: Iterable[EncryptionKey] = ()) -> None:
        self._current = current
        self._ciphers = {key.key_id: AESGCM(key.secret) for key in older}
        self._ciphers[current.key_id] = AESGCM(current.secret)

    @property
    def key_id(self) -> str:
        return self._current.key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._current.key_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._current.key_id].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UndecodablePayload(
                f"payload encrypted with unknown key {key_id!r}: add it to PAYLOAD_DECRYPTION_KEYS"
            )
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except Exception:  # InvalidTag: tampered, truncated, or another key under this id
            raise UndecodablePayload(f"payload under key {key_id!r} does not verify") from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def codec_from_settings(settings) -> AesGcmCodec | None:
    """The codec the settings ask for, or None (payloads unencrypted)."""
    if not settings.payload_encryption_key:
        return None
    return AesGcmCodec(parse_key(settings.payload_encryption_key), parse_keys(settings.payload_decryption_keys))


_warned = False


def warn_once_if_unencrypted(codec: AesGcmCodec | None) -> None:
    global _warned
    if codec is None and not _warned:
        _warned = True
        log.warning("PAYLOAD_ENCRYPTION_KEY is not set: workflow payloads are stored unencrypted in Temporal")
