from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.durations import add_months, format_duration, parse_calendar_duration, parse_duration
from domain.plans import parse_catalogue
from domain.references import external_reference_for, parse_external_reference

UTC = UTC


def test_iso_durations():
    assert parse_duration("P3D") == timedelta(days=3)
    assert parse_duration("PT20S") == timedelta(seconds=20)
    assert parse_duration("PT1H30M") == timedelta(hours=1, minutes=30)
    with pytest.raises(ValueError):
        parse_duration("P1M")  # a month has no fixed length
    for bad in ("", "P", "PT", "3D", "P-1D", "PT0S"):
        with pytest.raises(ValueError):
            parse_calendar_duration(bad)


def test_exact_durations_are_written_back_as_iso_text():
    spans = {
        "P3D": timedelta(days=3),
        "PT10M": timedelta(minutes=10),
        "PT0.2S": timedelta(milliseconds=200),
        "P1DT1H30M5S": timedelta(days=1, hours=1, minutes=30, seconds=5),
        "PT1H": timedelta(hours=1),
        "P14D": timedelta(weeks=2),
    }
    for text, span in spans.items():
        assert format_duration(span) == text and parse_duration(text) == span
    for not_positive in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValueError):
            format_duration(not_positive)


def test_calendar_months_clamp_to_the_end_of_the_month():
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1) == datetime(2027, 1, 15, tzinfo=UTC)
    assert parse_calendar_duration("P1Y").after(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2027, 3, 1, tzinfo=UTC)


def test_catalogue_parses_decimals_and_refuses_bad_entries():
    plans = parse_catalogue(
        '[{"id": 1, "code": "B", "name": "b", "price": "9.99", "currency": "ars", "billingCycle": "monthly"}]'
    )
    assert plans[1].price == Decimal("9.99") and plans[1].currency == "ARS"
    with pytest.raises(ValueError, match="plan #0"):
        parse_catalogue(
            '[{"id": 1, "code": "B", "name": "b", "price": "x", "currency": "ARS", "billingCycle": "monthly"}]'
        )
    with pytest.raises(ValueError, match="plan #0"):
        parse_catalogue(
            '[{"id": 1, "code": "B", "name": "b", "price": "1", "currency": "ARS", "billingCycle": "weekly"}]'
        )
    with pytest.raises(ValueError, match="twice"):
        parse_catalogue(
            "["
            + ",".join(
                ['{"id": 1, "code": "B", "name": "b", "price": "1", "currency": "ARS", "billingCycle": "PT5S"}'] * 2
            )
            + "]"
        )


def test_external_reference_round_trip():
    reference = external_reference_for(2, 17, "abcdef0123456789")
    assert reference == "PLAN-2-USER-17-abcdef01"
    parsed = parse_external_reference(reference)
    assert (parsed.plan_id, parsed.user_id) == (2, 17)
    assert parse_external_reference("ORDER-123") is None
    assert parse_external_reference(None) is None
