"""Fixtures for the sandbox tests: the sandbox on uvicorn (background thread), a tiny webhook
receiver, and the official MercadoPago SDK pointed at the sandbox."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import mercadopago
import pytest
from mercadopago.http import HttpClient

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer

TOKEN = "TEST-1234-sandbox-test-token"
SECRET = "sandbox-test-webhook-secret"
COLLECTOR_ID = 777000111
MP_API = "https://api.mercadopago.com"


def wait_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll until `check()` is truthy; return its value. Fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every POST; answers 200 unless told to answer something else for the next ones."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: deque[int] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            parts.path,
                            dict(parse_qsl(parts.query, keep_blank_values=True)),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    status = receiver._answers.popleft() if receiver._answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a delivery cancelled mid-flight by a reset drops its connection: not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._answers.extend(statuses)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._answers.clear()

    def received(self, pred: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if pred(r)]

    def wait_for(self, pred: Callable[[Received], bool], count: int = 1, timeout: float = 5.0) -> list[Received]:
        return wait_until(
            lambda: (found := self.received(pred)) and len(found) >= count and found,
            timeout,
            f"{count} matching notification(s)",
        )

    @staticmethod
    def about(payment_id: int) -> Callable[[Received], bool]:
        """Matches webhooks and payment IPNs about this payment."""
        pid = str(payment_id)
        return lambda r: (
            r.query.get("data.id") == pid or (r.query.get("topic") == "payment" and r.query.get("id") == pid)
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_sdk(base_url: str, token: str = TOKEN) -> mercadopago.SDK:
    class SandboxHttpClient(HttpClient):
        """The official client, sent to the sandbox instead of api.mercadopago.com."""

        def request(self, method, url, *args, **kwargs):
            if url.startswith(MP_API):
                url = base_url + url[len(MP_API) :]
            return super().request(method, url, *args, **kwargs)

    return mercadopago.SDK(token, http_client=SandboxHttpClient())


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="session")
def mp_sandbox(receiver):
    config = SandboxConfig(
        # a routing parameter of our own, which the sandbox must keep
        notification_url=f"{receiver.url}/api/webhooks/mercadopago?source=test",
        webhook_secret=SECRET,
        access_token=TOKEN,
        collector_id=COLLECTOR_ID,
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(scope="session")
def sdk(mp_sandbox):
    return make_sdk(mp_sandbox.url)


@pytest.fixture(scope="session")
def sdk_for(mp_sandbox):
    """An SDK on the sandbox with another access token."""
    return lambda token: make_sdk(mp_sandbox.url, token)


@pytest.fixture(scope="session")
def control(mp_sandbox):
    with httpx.Client(base_url=mp_sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def _clean(control, receiver):
    """Each test starts with default knobs, no objects, no pending deliveries, an empty receiver."""
    control.post("/sandbox/reset", json={"all": True}).raise_for_status()
    receiver.clear()
    yield
    control.post("/sandbox/reset", json={"all": True}).raise_for_status()


@pytest.fixture
def delivery_log(control):
    """The sandbox's delivery log for a payment, once it holds at least `count` attempts (an
    attempt is logged after the receiver's answer, so just after the receiver saw it)."""

    def read(payment_id: int, count: int = 1) -> list[dict]:
        return wait_until(
            lambda: (
                (log := control.get("/sandbox/deliveries", params={"payment_id": payment_id}).json())
                and len(log) >= count
                and log
            ),
            what=f"{count} logged deliveries",
        )

    return read


@pytest.fixture
def new_preference(sdk):
    """Create a preference through the SDK; returns the response body."""

    def create(unit_price=19.99, quantity=1, external_reference=None, back_urls=None, **extra) -> dict:
        body = {
            "items": [
                {
                    "id": "2",
                    "title": "Plan STANDARD",
                    "quantity": quantity,
                    "unit_price": unit_price,
                    "currency_id": "ARS",
                }
            ],
            "payer": {"email": "buyer@example.com", "name": "Ana"},
            "external_reference": external_reference or f"PLAN-2-USER-1-{uuid.uuid4().hex[:8]}",
            "metadata": {"plan_id": 2, "user_id": 1},
            **({"back_urls": back_urls, "auto_return": "approved"} if back_urls else {}),
            **extra,
        }
        result = sdk.preference().create(body)
        assert result["status"] == 201, result
        return result["response"]

    return create
