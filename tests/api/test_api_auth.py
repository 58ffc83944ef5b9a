"""Bearer tokens: who may read what."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import jwt
import pytest

from api.auth import InvalidToken, decode_token, issue_token
from tests.api.helpers import ADMIN, ALICE, BOB, JWT_SECRET, bearer, serve


def _token(claims: dict, key: str = JWT_SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


def _valid_claims(**changes) -> dict:
    claims = {"sub": str(ALICE), "exp": int(time.time()) + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# tokens are built inside the test (an expiry computed at collection time could go stale)
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with our key: on purpose
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda: {}, id="missing"),
        pytest.param(lambda: {"Authorization": "Basic YWxpY2U6c2VjcmV0"}, id="not-bearer"),
        pytest.param(lambda: {"Authorization": "Bearer not.a.jwt"}, id="garbage"),
        pytest.param(lambda: _token(_valid_claims(exp=int(time.time()) - 120)), id="expired"),
        pytest.param(lambda: _token(_valid_claims(exp=None)), id="no-exp"),
        pytest.param(lambda: _token(_valid_claims(sub=None)), id="no-sub"),
        pytest.param(lambda: _token(_valid_claims(sub="alice")), id="sub-not-an-id"),
        pytest.param(lambda: _token(_valid_claims(sub=1)), id="sub-not-a-string"),
        pytest.param(lambda: _token(_valid_claims(roles="admin")), id="roles-not-a-list"),
        pytest.param(lambda: _token(_valid_claims(), key="another-secret-another-secret-0123"), id="wrong-key"),
        pytest.param(lambda: _token(_valid_claims(), algorithm="HS512"), id="wrong-alg"),
        pytest.param(lambda: _token(_valid_claims(), key=None, algorithm="none"), id="none-alg"),
    ],
)
async def test_bad_or_missing_token_is_401(make_settings, seed, headers):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/payments/user/{ALICE}", headers=headers())
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] in {"unauthorized", "invalid_token"}
    assert response.headers["www-authenticate"] == "Bearer"


# each refused as 401 invalid_token, the reason only in our logs
@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(lambda: _valid_claims(exp=int(time.time()) + 86400 + 3600), id="exp-beyond-a-day"),
        pytest.param(lambda: _valid_claims(exp=int(time.time()) + 10 * 365 * 86400), id="exp-in-ten-years"),
        pytest.param(lambda: _valid_claims(exp=time.time() + 600), id="exp-float"),
        pytest.param(lambda: _valid_claims(exp=str(int(time.time()) + 600)), id="exp-string"),
        pytest.param(lambda: _valid_claims(exp=True), id="exp-bool"),
        pytest.param(lambda: _valid_claims(sub="007"), id="sub-leading-zeros"),
        pytest.param(lambda: _valid_claims(sub="0"), id="sub-zero"),
        pytest.param(lambda: _valid_claims(sub="+7"), id="sub-plus-sign"),
        pytest.param(lambda: _valid_claims(sub=" 7"), id="sub-leading-space"),
        pytest.param(lambda: _valid_claims(sub="7\n"), id="sub-trailing-newline"),
        pytest.param(lambda: _valid_claims(sub="\u0667"), id="sub-non-ascii-digit"),
    ],
)
async def test_unsound_claims_are_refused_as_invalid_token(make_settings, seed, claims):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(f"/api/payments/user/{ALICE}", headers=_token(claims()))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "message": "the bearer token is invalid or expired"}


async def test_the_refusal_reason_is_logged_not_answered(make_settings, seed, caplog):
    settings = make_settings()
    with caplog.at_level(logging.DEBUG, logger="paysaga.api.auth"):
        async with serve(settings) as client:
            response = await client.get(f"/api/payments/user/{ALICE}", headers=_token(_valid_claims(sub="007")))
    assert response.status_code == 401 and "sub" not in response.text
    reasons = [r for r in caplog.records if r.name == "paysaga.api.auth" and r.levelno <= logging.INFO]
    assert len(reasons) == 1 and "sub" in reasons[0].getMessage()


async def test_a_token_within_the_maximum_lifetime_is_accepted(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        day = await client.get(
            f"/api/payments/user/{ALICE}", headers=_token(_valid_claims(exp=int(time.time()) + 86400))
        )
    assert day.status_code == 200


async def test_the_maximum_lifetime_is_configurable(make_settings, seed):
    settings = make_settings(auth_max_token_lifetime="PT1H")
    async with serve(settings) as client:
        short = await client.get(
            f"/api/payments/user/{ALICE}", headers=bearer(settings, ALICE, ttl=timedelta(minutes=50))
        )
        long = await client.get(f"/api/payments/user/{ALICE}", headers=bearer(settings, ALICE, ttl=timedelta(hours=2)))
    assert short.status_code == 200 and long.status_code == 401


def test_the_maximum_lifetime_must_be_a_duration(make_settings):
    with pytest.raises(ValueError):
        make_settings(auth_max_token_lifetime="one day")


async def test_expiry_has_leeway_of_thirty_seconds(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(
            f"/api/payments/user/{ALICE}", headers=_token(_valid_claims(exp=int(time.time()) - 10))
        )
    assert response.status_code == 200


async def test_user_reads_own_data_only(make_settings, seed):
    settings = make_settings()
    alice = bearer(settings, ALICE)
    async with serve(settings) as client:
        assert (await client.get(f"/api/payments/user/{ALICE}", headers=alice)).status_code == 200
        for path in (
            f"/api/payments/user/{BOB}",
            f"/api/payments/user/{BOB}/approved",
            f"/api/payments/{seed.bob_payment}",
            f"/api/subscriptions/user/{BOB}",
            f"/api/subscriptions/user/{BOB}/active",
        ):
            response = await client.get(path, headers=alice)
            assert response.status_code == 403, path
            assert response.json()["error"] == "forbidden"
        response = await client.post(f"/api/subscriptions/{seed.bob_subscription}/cancel", headers=alice)
        assert response.status_code == 403
        response = await client.get(f"/api/checkouts/{seed.alice_checkout}", headers=bearer(settings, BOB))
        assert response.status_code == 403


async def test_admin_reads_everyone(make_settings, seed):
    settings = make_settings()
    admin = bearer(settings, ADMIN, roles=["admin"])
    async with serve(settings) as client:
        assert (await client.get(f"/api/payments/{seed.bob_payment}", headers=admin)).status_code == 200
        assert len((await client.get(f"/api/payments/user/{ALICE}", headers=admin)).json()) == 2
        assert (await client.get(f"/api/subscriptions/user/{BOB}", headers=admin)).status_code == 200
        assert (await client.get(f"/api/checkouts/{seed.alice_checkout}", headers=admin)).status_code == 200


async def test_roles_other_than_admin_grant_nothing(make_settings, seed):
    settings = make_settings()
    async with serve(settings) as client:
        response = await client.get(
            f"/api/payments/{seed.bob_payment}", headers=bearer(settings, ALICE, roles=["support"])
        )
    assert response.status_code == 403


def test_issue_token_round_trips(make_settings):
    settings = make_settings()
    token = issue_token(settings, 42, roles=["admin"], ttl=timedelta(minutes=5))
    principal = decode_token(settings, token)
    assert principal.user_id == 42 and principal.is_admin
    with pytest.raises(InvalidToken):
        decode_token(make_settings(auth_jwt_secret="x" * 40), token)
