"""The consumer's helper refuses forged, altered and stale deliveries, and accepts genuine ones."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.signature import SignatureError, compute, parse, sign, verify

SECRET = "whsec-test"
BODY = b'{"id":"7","type":"payment.approved","occurredAt":"2026-01-15T12:00:00Z","data":{"amount":"9.99"}}'
T = 1_768_478_400

bodies = st.binary(min_size=0, max_size=512)
secrets = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)
times = st.integers(min_value=1, max_value=4_000_000_000)


def test_the_header_has_the_contract_form():
    header = sign(SECRET, BODY, T)
    t, signatures = parse(header)
    assert header == f"t={T},v1={signatures[0]}"
    assert t == T and len(signatures[0]) == 64 and int(signatures[0], 16) >= 0
    # HMAC-SHA256(secret, "<t>.<raw body>")
    import hashlib
    import hmac

    assert signatures[0] == hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()


def test_a_genuine_delivery_passes_within_tolerance():
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + 299) == T
    assert verify(SECRET, BODY.decode(), sign(SECRET, BODY, T), now=T - 10) == T  # str bodies are UTF-8


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=" + "0" * 64, "no t="),
        (f"t={T}", "no v1="),
        (f"t=abc,v1={'0' * 64}", "t must be"),
        (f"t={T},t={T},v1={'0' * 64}", "t must be"),
        ("garbage", "not key=value"),
    ],
)
def test_malformed_headers_say_what_is_wrong(header, reason):
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, BODY, header, now=T)


def test_a_stale_signature_fails_even_when_genuine():
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + 301)
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, BODY, sign(SECRET, BODY, T), now=T - 301)  # from the future, too
    # tolerance 0 turns the check off (e.g. replaying a stored delivery on purpose)
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), tolerance_seconds=0, now=T + 10_000) == T


def test_a_rotated_secret_is_accepted_with_either_key():
    header = sign("old-secret", BODY, T)
    assert verify(["new-secret", "old-secret"], BODY, header, now=T) == T
    with pytest.raises(SignatureError, match="mismatch"):
        verify(["new-secret"], BODY, header, now=T)


def test_a_non_ascii_signature_is_refused_not_crashed():
    with pytest.raises(SignatureError, match="mismatch"):
        verify(SECRET, BODY, f"t={T},v1=ñ{'0' * 63}", now=T)


@given(secret=secrets, body=bodies, t=times)
def test_signing_then_verifying_roundtrips(secret, body, t):
    assert verify(secret, body, sign(secret, body, t), now=t) == t


@given(secret=secrets, body=bodies, t=times, other=bodies)
def test_an_altered_body_fails(secret, body, t, other):
    if other == body:
        return
    with pytest.raises(SignatureError, match="mismatch"):
        verify(secret, other, sign(secret, body, t), now=t)


@given(secret=secrets, forger=secrets, body=bodies, t=times)
def test_a_forged_signature_fails(secret, forger, body, t):
    if forger == secret:
        return
    with pytest.raises(SignatureError, match="mismatch"):
        verify(secret, body, sign(forger, body, t), now=t)


@given(secret=secrets, body=bodies, t=times, shift=st.integers(min_value=1, max_value=10_000))
def test_a_moved_timestamp_fails(secret, body, t, shift):
    """Re-stamping a captured delivery to pass the tolerance breaks its signature."""
    forged = f"t={t + shift},v1={compute(secret, body, t)}"
    with pytest.raises(SignatureError, match="mismatch"):
        verify(secret, body, forged, now=t + shift)


@given(
    secret=secrets,
    body=bodies,
    t=times,
    position=st.integers(min_value=0, max_value=63),
    digit=st.sampled_from("0123456789abcdef"),
)
def test_a_flipped_signature_digit_fails(secret, body, t, position, digit):
    genuine = compute(secret, body, t)
    if genuine[position] == digit:
        return
    tampered = genuine[:position] + digit + genuine[position + 1 :]
    with pytest.raises(SignatureError):
        verify(secret, body, f"t={t},v1={tampered}", now=t)
