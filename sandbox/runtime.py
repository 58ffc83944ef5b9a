"""What every route shares: the running sandbox (config, store, knobs, notifier) and the few
steps more than one route takes (reading JSON, idempotent answers, paying a preference)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi import Request

from .config import SandboxConfig
from .delivery import Notifier
from .jsonio import MPJSONResponse, loads
from .knobs import KnobBoard
from .resources import bad_request
from .state import Store


@dataclass
class Sandbox:
    config: SandboxConfig
    store: Store = field(default_factory=Store)
    knobs: KnobBoard = field(default_factory=KnobBoard)
    notifier: Notifier = field(init=False)
    # API calls received per operation, failed ones included (tests measure retry pressure)
    calls: Counter = field(default_factory=Counter)
    # GET /v1/payments/{id} calls per id asked, known or not (tests measure de-duplication)
    payment_reads: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.config, self.store, self.knobs)

    def base_url(self, request: Request) -> str:
        return (self.config.public_url or str(request.base_url)).rstrip("/")

    def pay(
        self,
        request: Request,
        pref_id: str,
        status: str,
        *,
        status_detail: str | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
        notify: bool = True,
    ) -> dict:
        """A buyer paid: the payment exists, then its `payment.created` goes out in the background."""
        payment = self.store.create_payment(pref_id, status, status_detail, amount, currency)
        if notify:
            self.notifier.payment_event(payment["id"], ["payment.created"], self.base_url(request))
        return payment


def sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


async def json_body(request: Request, empty: Any = None) -> Any:
    """The request's JSON with Decimal numbers; `empty` for an empty body."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return loads(raw)
    except ValueError:
        raise bad_request("invalid JSON body", "invalid_json") from None


def idempotent_response(request: Request, produce: Callable[[], tuple[int, Any]]) -> MPJSONResponse:
    """Same X-Idempotency-Key on the same route: the first answer again, nothing created twice."""
    status, body = sandbox(request).store.idempotent(
        f"{request.method} {request.url.path}", request.headers.get("x-idempotency-key"), produce
    )
    return MPJSONResponse(body, status_code=status)
