"""Timeouts and retry policies, in one place so every call site agrees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

# MercadoPago: back off up to a minute between attempts; errors a retry cannot fix stop at once.
# An attempt lost with its worker is retried after 15 s (the SDK itself times out sooner).
MERCADOPAGO: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=60),
        non_retryable_error_types=["MercadoPagoNotFound", "MercadoPagoUnauthorized", "MercadoPagoRejectedRequest"],
    ),
)

# Creating the preference: the buyer is waiting, so give up after two minutes.
CREATE_PREFERENCE: dict[str, Any] = dict(MERCADOPAGO, schedule_to_close_timeout=timedelta(minutes=2))

# Short writes to the read model run as local activities: no extra round trip to the server.
STORE: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
)

# Another workflow's update: retried until it lands (the subscription de-duplicates).
SUBSCRIPTION: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)
