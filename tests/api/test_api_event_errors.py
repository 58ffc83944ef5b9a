"""GET /api/events never shows a consumer endpoint's path or query (they may carry its token),
not even in errors recorded before they were stored redacted."""

from __future__ import annotations

from store.models import EventRow
from tests.api.helpers import ADMIN, NOW, bearer, serve

LEGACY_ERRORS = {
    "http://127.0.0.1:9123/hook?token=tok-123: HTTP 500": "http://127.0.0.1: HTTP 500",
    "gave up: https://user:pw@hooks.example.com/in/tok-123 did not take event 1: ConnectError: [Errno 111]": (
        "gave up: https://hooks.example.com did not take event 1: ConnectError: [Errno 111]"
    ),
    "endpoint 1 (hooks.example.com): HTTP 503": "endpoint 1 (hooks.example.com): HTTP 503",
}


async def test_stored_errors_are_served_without_url_paths(make_settings, db):
    async with db() as session, session.begin():
        session.add_all(
            EventRow(
                event_key=f"legacy-{n}",
                type="payment.approved",
                user_id=1,
                occurred_at=NOW,
                data={},
                delivery_status="PARKED",
                attempts=3,
                last_error=error,
            )
            for n, error in enumerate(LEGACY_ERRORS)
        )
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get("/api/events", headers=bearer(settings, ADMIN, roles=["admin"]))
    assert response.status_code == 200
    served = [event["lastError"] for event in response.json()]
    assert served == list(LEGACY_ERRORS.values())
    assert "tok-123" not in response.text and "pw@" not in response.text
