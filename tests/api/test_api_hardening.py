"""What the API never gives away (stack traces, SQL, inputs), whom browsers may call it from, and
how strictly bearer tokens are read."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from sqlalchemy import text

from api.auth import LEEWAY_SECONDS
from tests.api.helpers import ALICE, JWT_SECRET, bearer, serve

LEAKS = re.compile(
    r"Traceback|File \"|sqlalchemy|sqlite|asyncpg|SELECT |INSERT |UPDATE |DELETE |FROM |"
    r"\.py\b|line \d+|Exception|Error\(",
    re.IGNORECASE,
)


def _token(**claims) -> dict[str, str]:
    base = {"sub": str(ALICE), "exp": int(time.time()) + 600}
    base.update(claims)
    token = jwt.encode({k: v for k, v in base.items() if v is not None}, JWT_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


# --- no stack traces, no SQL --------------------------------------------------------------------


async def test_a_database_error_answers_a_bare_500(make_settings, seed, db):
    settings = make_settings()
    async with db() as session, session.begin():
        await session.execute(text("DROP TABLE payments"))  # every read of payments now fails in SQL
    async with serve(settings) as client:
        for path in (f"/api/payments/user/{ALICE}", f"/api/payments/{seed.alice_approved}"):
            response = await client.get(path, headers=bearer(settings, ALICE))
            assert response.status_code == 500
            assert response.json() == {"error": "internal_error", "message": "internal server error"}
            assert not LEAKS.search(response.text), response.text


async def test_errors_name_fields_never_echo_values(make_settings):
    settings = make_settings()
    secret_looking = "4509-9535-6623-3704-SECRET"
    async with serve(settings) as client:
        response = await client.post(
            "/api/payments/checkout",
            headers=bearer(settings, ALICE),
            json={"userId": secret_looking, "planId": {"$ne": 1}},
        )
        assert response.status_code == 422
        assert set(response.json()) == {"error", "message"}
        assert secret_looking not in response.text and "$ne" not in response.text
        for method, path in (("GET", "/nowhere"), ("DELETE", "/api/plans"), ("POST", "/api/plans")):
            response = await client.request(method, path)
            assert set(response.json()) == {"error", "message"} and response.status_code in (404, 405)
            assert not LEAKS.search(response.text)


# --- CORS -------------------------------------------------------------------------------------------


async def test_cors_answers_only_configured_origins(make_settings):
    settings = make_settings(cors_origins="https://shop.example.com")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with serve(settings) as client:
        allowed = await client.options(
            "/api/payments/checkout", headers={"Origin": "https://shop.example.com", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert "access-control-allow-credentials" not in allowed.headers  # tokens, not cookies

        refused = await client.options(
            "/api/payments/checkout", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers
        simple = await client.get("/api/plans", headers={"Origin": "https://evil.example"})
        assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers
        # the codec server answers the Temporal UI's origin only, not the shop's
        codec = await client.options("/codec/decode", headers={"Origin": "https://shop.example.com", **preflight})
        assert "access-control-allow-origin" not in codec.headers


async def test_no_cors_origins_configured_means_no_cors_headers(make_settings):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get("/api/plans", headers={"Origin": "https://shop.example.com"})
    assert "access-control-allow-origin" not in response.headers


# --- bearer tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claims, status",
    [
        pytest.param(lambda: {"exp": int(time.time()) - LEEWAY_SECONDS + 5}, 200, id="expired-within-leeway"),
        pytest.param(lambda: {"exp": int(time.time()) - LEEWAY_SECONDS - 5}, 401, id="expired-beyond-leeway"),
        pytest.param(lambda: {"nbf": int(time.time()) + LEEWAY_SECONDS + 60}, 401, id="not-yet-valid"),
        pytest.param(lambda: {"iat": int(time.time()) + LEEWAY_SECONDS + 60}, 401, id="issued-in-the-future"),
        pytest.param(lambda: {"exp": "tomorrow"}, 401, id="exp-not-a-number"),
    ],
)
async def test_token_times_are_checked_with_bounded_skew(make_settings, seed, claims, status):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/payments/user/{ALICE}", headers=_token(**claims()))
    assert response.status_code == status


def test_the_leeway_is_small():
    assert 0 < LEEWAY_SECONDS <= 60


async def test_a_token_signed_with_the_secret_as_another_algorithm_is_refused(make_settings, seed):
    settings = make_settings()
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    # %-formatting: the JSON's own braces stay as they are
    payload = jwt.utils.base64url_encode(
        ('{"sub":"%d","exp":%d,"roles":["admin"]}' % (ALICE, int(time.time()) + 600)).encode()  # noqa: UP031
    ).decode()
    async with serve(settings) as client:
        for token in (f"{header}.{payload}.", f"{header}.{payload}"):
            response = await client.get(f"/api/payments/user/{ALICE}", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
