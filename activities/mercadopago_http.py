"""The official SDK's transport, pointed at MERCADOPAGO_API_BASE_URL and reading money as Decimal."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import requests
from mercadopago.errors.exceptions import MPServerError
from mercadopago.http import HttpClient

MERCADOPAGO_API = "https://api.mercadopago.com"


class RebasedHttpClient(HttpClient):
    """Sends the SDK's calls to `base_url` over pooled connections; no SDK-level retries
    (Temporal retries the activity, with backoff, under the same idempotency key)."""

    def __init__(self, base_url: str = MERCADOPAGO_API) -> None:
        self._base_url = base_url.rstrip("/")
        self._local = threading.local()  # requests.Session is not thread-safe

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def request(self, method, url, maxretries=None, retry_on=None, backoff_factor=None, **kwargs):
        if url.startswith(MERCADOPAGO_API):
            url = self._base_url + url[len(MERCADOPAGO_API) :]
        response = self._session.request(method, url, **kwargs)
        body = None
        if response.status_code != 204 and response.content:
            try:
                # amounts arrive as JSON numbers: never let them become floats
                body = json.loads(response.content, parse_float=Decimal)
            except ValueError as exc:
                raise MPServerError(
                    response.status_code, {"message": "Invalid JSON in response body", "error": "invalid_response"}
                ) from exc
        answer = {"status": response.status_code, "response": body}
        if response.headers.get("Retry-After"):
            answer["retry_after"] = response.headers["Retry-After"]  # how long a 429 asks us to wait
        return answer
