"""The observed stack's handles and the few steps the observability tests take on it."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from config.payload_codec import new_key_text
from tests.observability.otlp_receiver import OtlpReceiver
from tests.support.checkouts import CheckoutCall, assert_created, start_checkout_retrying
from tests.support.stack import RunningStack

UI_ORIGIN = "http://temporal-ui.test:8233"
OLD_KEY = new_key_text("2024-01")
CURRENT_KEY = new_key_text("2025-06")

_user_ids = itertools.count(7000)


@dataclass
class Observed:
    running: RunningStack
    receiver: OtlpReceiver

    @property
    def config(self):
        return self.running.config

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.config.worker_metrics_port}/metrics"


@dataclass(frozen=True)
class Purchase:
    user_id: int
    checkout: dict
    payment: dict  # as MercadoPago (the sandbox) holds it, payer included


def next_user_id() -> int:
    return next(_user_ids)


async def start_checkout(observed: Observed, user_id: int, plan_id: int = 1) -> dict:
    call = CheckoutCall(uuid.uuid4().hex)
    async with observed.running.api(user_id) as api:
        # a busy API (503 checkout_busy) is asked again with the same key after its Retry-After
        answer = await start_checkout_retrying(api, user_id, plan_id, call=call)
    return assert_created(answer, call)


async def sandbox(observed: Observed, method: str, path: str, **kwargs) -> dict:
    async with observed.running.sandbox() as client:
        answer = await client.request(method, path, **kwargs)
    answer.raise_for_status()
    return answer.json()
