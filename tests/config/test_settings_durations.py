"""Duration settings: ISO-8601 text in the environment, a `timedelta` once loaded, exact spans only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from config.settings import Settings

# every duration setting, with the default the public contract documents
DEFAULTS = {
    "auth_max_token_lifetime": timedelta(days=1),
    "checkout_deadline": timedelta(days=3),
    "renewal_reminder_lead": timedelta(days=3),
    "event_retry_initial_interval": timedelta(seconds=1),
    "event_retry_max_interval": timedelta(minutes=10),
    "event_delivery_give_up_after": timedelta(days=3),
    "event_sweep_interval": timedelta(minutes=1),
    "event_delivery_idle": timedelta(minutes=5),
    "payment_router_idle": timedelta(minutes=10),
    "unknown_payment_recheck_after": timedelta(minutes=10),
    "retention_interval": timedelta(days=1),
}


@pytest.fixture(autouse=True)
def no_duration_in_the_environment(monkeypatch):
    for name in DEFAULTS:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_are_timedeltas():
    settings = Settings()
    assert {name: getattr(settings, name) for name in DEFAULTS} == DEFAULTS


def test_environment_values_are_parsed_once_into_timedeltas(monkeypatch):
    monkeypatch.setenv("CHECKOUT_DEADLINE", "PT8S")
    monkeypatch.setenv("PAYMENT_ROUTER_IDLE", "PT2S")
    monkeypatch.setenv("EVENT_RETRY_INITIAL_INTERVAL", "PT0.2S")
    monkeypatch.setenv("RETENTION_INTERVAL", "P1DT12H")
    settings = Settings()
    assert settings.checkout_deadline == timedelta(seconds=8)
    assert settings.payment_router_idle == timedelta(seconds=2)
    assert settings.event_retry_initial_interval == timedelta(milliseconds=200)
    assert settings.retention_interval == timedelta(days=1, hours=12)


@pytest.mark.parametrize("name", DEFAULTS)
@pytest.mark.parametrize("value", ["P1M", "P1Y", "PT0S", "P", "3D", "one day", "-P1D"])
def test_a_setting_takes_only_a_positive_exact_span(monkeypatch, name, value):
    # pydantic alone would read P1M as 30 days: a setting refuses calendar units instead
    monkeypatch.setenv(name.upper(), value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert refused.value.errors()[0]["loc"] == (name,)


def test_timedeltas_are_taken_in_code_when_positive():
    assert Settings(checkout_deadline=timedelta(minutes=5)).checkout_deadline == timedelta(minutes=5)
    for value in (timedelta(0), timedelta(seconds=-1), 3600):
        with pytest.raises(ValidationError):
            Settings(checkout_deadline=value)


def test_json_shows_the_environment_form_and_reads_back():
    settings = Settings(checkout_deadline="P3D", payment_router_idle="PT10M", event_retry_initial_interval="PT0.2S")
    shown = settings.model_dump(mode="json")
    assert (shown["checkout_deadline"], shown["payment_router_idle"]) == ("P3D", "PT10M")
    assert shown["event_retry_initial_interval"] == "PT0.2S"
    read_back = Settings(**{name: shown[name] for name in DEFAULTS})
    assert {name: getattr(read_back, name) for name in DEFAULTS} == {name: getattr(settings, name) for name in DEFAULTS}
