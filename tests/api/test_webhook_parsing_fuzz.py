"""Property tests over what a webhook delivery carries: the x-signature header, the query string
and the body. Whatever arrives, the answer is a clean one (200, or 4xx/503 with the error
shape), never an exception."""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine as create_sync_engine

from api.main import create_app
from api.routers.webhooks import _action, _json_object
from api.webhook_signature import SignatureRejected, parse_signature_header, verify_signature
from config.settings import Settings
from store.models import Base
from tests.api.helpers import JWT_SECRET, WEBHOOK_SECRET, signed_webhook

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=120)
DIGITS_ANY_SCRIPT = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=8)
signature_like = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.builds(
        lambda ts, v1: f"ts={ts},v1={v1}",
        st.one_of(st.integers(), DIGITS_ANY_SCRIPT, st.text(max_size=20)),
        st.text(max_size=80),
    ),
    st.lists(st.tuples(st.sampled_from(["ts", "v1", "v2", "TS", " ts", ""]), st.text(max_size=30)), max_size=5).map(
        lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)
    ),
)


@given(
    x_signature=signature_like,
    request_id=st.one_of(st.none(), st.text(max_size=60)),
    data_id=st.one_of(st.none(), st.text(max_size=40)),
    tolerance=st.integers(0, 10**6),
)
def test_signature_verification_only_ever_rejects(x_signature, request_id, data_id, tolerance):
    try:
        verify_signature(x_signature, request_id, data_id, WEBHOOK_SECRET, tolerance)
    except SignatureRejected as exc:
        assert exc.reason
    else:  # forging a valid HMAC by chance is not a thing hypothesis does
        pytest.fail("an unsigned header verified")


@given(st.text(max_size=200))
def test_the_timestamp_parser_never_raises(x_signature):
    try:
        seconds = parse_signature_header(x_signature).seconds
    except SignatureRejected:  # a refusal, never a crash
        return
    assert seconds >= 0


@given(ts=st.integers(0, 10**13))
def test_timestamps_in_seconds_and_milliseconds_read_alike(ts):
    seconds = parse_signature_header(f"ts={ts},v1={'ab' * 32}").seconds
    assert seconds == (ts / 1000 if ts > 10**11 else float(ts))


# parts an attacker may add around a captured delivery's own `ts` and `v1`
EXTRA_PART = st.one_of(
    st.builds(
        lambda key, value: f"{key}={value}",
        st.sampled_from(["ts", "v1", "v2", "TS", "V1", " ts", "ts ", "foo", ""]),
        st.one_of(st.just("{now}"), st.just("{old}"), st.just("{old_v1}"), st.text(max_size=12)),
    ),
    st.sampled_from(["", " ", "ts", "=", "v1"]),
)


@settings(max_examples=int(os.environ.get("PAYSAGA_FUZZ_EXAMPLES", "150")))
@given(extra=st.lists(EXTRA_PART, min_size=1, max_size=4), order=st.randoms(use_true_random=False))
def test_a_week_old_capture_verifies_in_no_wrapping(extra, order):
    old = signed_webhook("123", ts=int((time.time() - 7 * 24 * 3600) * 1000), request_id="r-1")
    old_ts, old_v1 = (part.split("=", 1)[1] for part in old.headers["x-signature"].split(","))
    now = str(int(time.time() * 1000))
    parts = [f"ts={old_ts}", f"v1={old_v1}"] + [
        p.replace("{now}", now).replace("{old}", old_ts).replace("{old_v1}", old_v1) for p in extra
    ]
    order.shuffle(parts)
    with pytest.raises(SignatureRejected):
        verify_signature(",".join(parts), "r-1", "123", WEBHOOK_SECRET, 300)


def test_a_genuine_signature_still_verifies():
    webhook = signed_webhook("123", ts=int(time.time() * 1000))
    verify_signature(webhook.headers["x-signature"], webhook.headers["x-request-id"], "123", WEBHOOK_SECRET, 300)


@given(st.binary(max_size=300))
def test_the_body_reader_never_raises(body):
    parsed = _json_object(body)
    assert isinstance(parsed, dict)
    action = _action(parsed)
    assert action is None or (isinstance(action, str) and len(action) <= 64)


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    var = tempfile.mkdtemp(prefix="paysaga-webhook-fuzz-")
    path = os.path.join(var, "read-model.db")
    engine = create_sync_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{path}",
            temporal_address="127.0.0.1:9",
            auth_jwt_secret=JWT_SECRET,
            mercadopago_webhook_secret=WEBHOOK_SECRET,
            ipn_rate_limit_per_ip=10**6,
            ipn_rate_limit_global=10**6,
        )
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


QUERY_KEYS = st.sampled_from(["type", "topic", "data.id", "id", "source_news", "data.id", "x"])
query = st.lists(st.tuples(QUERY_KEYS, st.one_of(st.text(max_size=30), st.integers().map(str))), max_size=5)


@settings(
    max_examples=int(os.environ.get("PAYSAGA_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    params=query,
    x_signature=st.one_of(st.none(), HEADER_TEXT),
    request_id=st.one_of(st.none(), HEADER_TEXT),
    body=st.one_of(st.binary(max_size=200), st.just(b'{"action": "payment.updated", "data": {"id": "1"}}')),
)
def test_any_delivery_gets_a_clean_answer(client, params, x_signature, request_id, body):
    # header bytes as they come off the wire (HTTP headers are latin-1)
    headers = {"content-type": b"application/json"}
    if x_signature is not None:
        headers["x-signature"] = x_signature.encode("latin-1")
    if request_id is not None:
        headers["x-request-id"] = request_id.encode("latin-1")
    response = client.post("/api/webhooks/mercadopago", params=params, headers=headers, content=body)
    assert response.status_code in (200, 400, 401, 413, 429, 503), response.status_code
    answer = response.json()
    if response.status_code == 200:
        assert answer["status"] in ("accepted", "ignored")
    else:
        assert set(answer) == {"error", "message"}
