"""Business-hours arithmetic for SLAs: working hours per weekday in a time zone, minus holidays.

Pure functions over a `Hours` value (no database), so the SLA rules can be tested with any clock:

    hours = Hours(zone="Europe/Berlin", week={0: [(time(9), time(17))], ...}, holidays={date(2026, 12, 25)})
    due = add_business_minutes(hours, start, 8 * 60)        # 8 working hours after `start`
    spent = business_minutes_between(hours, start, end)     # working minutes in [start, end)
    since = subtract_business_minutes(hours, end, 8 * 60)   # what started by then has waited 8 working hours

Local wall-clock times are turned into instants with zoneinfo, so a day that changes to or from summer time has
the hours it really has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 3 * 366  # a target further away than this means a calendar without working hours


class NoWorkingHours(ValueError):
    """The calendar has no working time in the next three years."""


@dataclass(frozen=True)
class Hours:
    zone: str
    week: dict[int, list[tuple[time, time]]]  # weekday (Monday 0) → opening intervals, in local time
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


def _intervals(hours: Hours, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals (as aware datetimes) from the day of `start` on, in order."""
    tz = hours.tz
    day = start.astimezone(tz).date()
    for _ in range(MAX_DAYS):
        if day not in hours.holidays:
            for opens, closes in sorted(hours.week.get(day.weekday(), [])):
                begin = datetime.combine(day, opens, tzinfo=tz)
                end = datetime.combine(day, closes, tzinfo=tz) if closes > opens else \
                    datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                yield begin.astimezone(UTC), end.astimezone(UTC)
        day += timedelta(days=1)
    raise NoWorkingHours(f"No working hours in the {MAX_DAYS} days after {start.isoformat()}.")


def add_business_minutes(hours: Hours, start: datetime, minutes: float) -> datetime:
    """The instant `minutes` working minutes after `start` (at the end of a working interval, not the next
    morning, when it lands exactly on a closing time)."""
    left = timedelta(minutes=minutes)
    if left <= timedelta(0):
        return start
    for begin, end in _intervals(hours, start):
        if end <= start:
            continue
        begin = max(begin, start)
        if begin + left <= end:
            return begin + left
        left -= end - begin
    raise AssertionError("unreachable")  # _intervals raises first


def business_minutes_between(hours: Hours, start: datetime, end: datetime) -> float:
    """Working minutes in [start, end) (0 when end is not after start)."""
    if end <= start:
        return 0.0
    total = timedelta(0)
    for begin, close in _intervals(hours, start):
        if begin >= end:
            break
        total += max(timedelta(0), min(close, end) - max(begin, start))
    return total.total_seconds() / 60


def _intervals_back(hours: Hours, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals (as aware datetimes) from the day of `end` back, latest first."""
    tz = hours.tz
    day = end.astimezone(tz).date()
    for _ in range(MAX_DAYS):
        if day not in hours.holidays:
            for opens, closes in sorted(hours.week.get(day.weekday(), []), reverse=True):
                begin = datetime.combine(day, opens, tzinfo=tz)
                close = datetime.combine(day, closes, tzinfo=tz) if closes > opens else \
                    datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
                yield begin.astimezone(UTC), close.astimezone(UTC)
        day -= timedelta(days=1)
    raise NoWorkingHours(f"No working hours in the {MAX_DAYS} days before {end.isoformat()}.")


def subtract_business_minutes(hours: Hours, end: datetime, minutes: float) -> datetime:
    """The latest instant from which `minutes` working minutes have passed by `end`: something that started then or
    earlier is due by `end` (add_business_minutes' inverse, for "waiting longer than N working hours")."""
    left = timedelta(minutes=minutes)
    if left <= timedelta(0):
        return end
    for begin, close in _intervals_back(hours, end):
        if begin >= end:
            continue
        close = min(close, end)
        if close - left >= begin:
            return close - left
        left -= close - begin
    raise AssertionError("unreachable")  # _intervals_back raises first
