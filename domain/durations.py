"""ISO-8601 durations (`P3D`, `PT20S`, `P1M`) and calendar arithmetic on them."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_ISO_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class CalendarDuration:
    """Months are calendar months (Jan 31 + 1 month = Feb 28/29); the rest is exact time."""

    months: int = 0
    exact: timedelta = timedelta()

    def after(self, start: datetime) -> datetime:
        return add_months(start, self.months) + self.exact

    def before(self, end: datetime) -> datetime:
        return add_months(end - self.exact, -self.months)


def parse_calendar_duration(text: str) -> CalendarDuration:
    match = _ISO_DURATION.match(text.strip()) if text else None
    if not match or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    if not parts:
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    months = int(parts.get("years", 0)) * 12 + int(parts.get("months", 0))
    exact = timedelta(
        weeks=int(parts.get("weeks", 0)),
        days=int(parts.get("days", 0)),
        hours=int(parts.get("hours", 0)),
        minutes=int(parts.get("minutes", 0)),
        seconds=float(parts.get("seconds", 0)),
    )
    if months == 0 and exact <= timedelta():
        raise ValueError(f"duration must be positive: {text!r}")
    return CalendarDuration(months=months, exact=exact)


def parse_duration(text: str) -> timedelta:
    """An exact duration; calendar units (Y, M) are refused since their length varies."""
    duration = parse_calendar_duration(text)
    if duration.months:
        raise ValueError(f"use days, hours, minutes or seconds, not years or months: {text!r}")
    return duration.exact


def format_duration(span: timedelta) -> str:
    """The ISO-8601 text that `parse_duration` reads back as the same span (`P3D`, `PT10M`, `PT0.2S`)."""
    if span <= timedelta():
        raise ValueError(f"duration must be positive: {span!r}")
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time_part = f"{hours}H" if hours else ""
    time_part += f"{minutes}M" if minutes else ""
    if seconds or span.microseconds:
        time_part += f"{seconds}.{span.microseconds:06d}".rstrip("0").rstrip(".") + "S"
    return "P" + (f"{span.days}D" if span.days else "") + (f"T{time_part}" if time_part else "")


def add_months(moment: datetime, months: int) -> datetime:
    if months == 0:
        return moment
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
