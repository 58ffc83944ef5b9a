"""One way to reach Temporal, shared by the API and the worker."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from config.payload_codec import codec_from_settings, warn_once_if_unencrypted
from config.settings import Settings


def _tls(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        return TLSConfig(
            client_cert=_read(settings.temporal_tls_cert),
            client_private_key=_read(settings.temporal_tls_key),
        )
    return bool(settings.temporal_api_key)


def _read(value: str | None) -> bytes | None:
    """A PEM given inline or as a path to a file."""
    if not value:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    with open(value, "rb") as handle:
        return handle.read()


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted (failure messages too) when PAYLOAD_ENCRYPTION_KEY is set."""
    codec = codec_from_settings(settings)
    warn_once_if_unencrypted(codec)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect_temporal(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=_tls(settings),
        data_converter=data_converter(settings),
        # one tracing mechanism: on the client, so the worker built on it traces too
        interceptors=[TracingInterceptor()],
        lazy=lazy,
        runtime=runtime,
    )
