"""Durations in settings: ISO-8601 text in the environment (`P3D`, `PT10M`), a `timedelta` in code.

Parsed once, when the settings load, by `domain.durations.parse_duration`. Pydantic's own
timedelta parsing reads ISO-8601 too, but makes `P1M` a fixed 30 days; a setting is a fixed span,
so years and months are refused here, as everywhere a span must be exact (billing cycles, the one
place calendar months belong, are parsed from the plan catalogue instead).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from domain.durations import format_duration, parse_duration


def _exact_span(value: object) -> timedelta:
    if isinstance(value, timedelta):
        if value <= timedelta():
            raise ValueError(f"duration must be positive: {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    return parse_duration(value)


# a positive, exact span: `P3D` or `timedelta(days=3)` in, `timedelta` held, `P3D` in JSON
IsoDuration = Annotated[
    timedelta,
    BeforeValidator(_exact_span),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
