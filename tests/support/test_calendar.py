"""Business-hours arithmetic: nights, weekends, holidays, summer time, and calendars without hours."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from support.calendar import Hours, NoWorkingHours, add_business_minutes, business_minutes_between

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = Hours(zone="Europe/Berlin", week={d: [(time(9), time(17))] for d in range(5)},
               holidays=frozenset({date(2026, 12, 25)}))


def at(*args):
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize("start, minutes, due", [
    (at(2026, 12, 1, 10), 60, at(2026, 12, 1, 11)),           # within the day
    (at(2026, 12, 1, 16), 120, at(2026, 12, 2, 10)),          # across the night
    (at(2026, 12, 4, 16), 120, at(2026, 12, 7, 10)),          # Friday afternoon → Monday
    (at(2026, 12, 5, 12), 60, at(2026, 12, 7, 10)),           # opened on a Saturday
    (at(2026, 12, 1, 7), 30, at(2026, 12, 1, 9, 30)),         # before opening
    (at(2026, 12, 24, 16), 120, at(2026, 12, 28, 10)),        # Christmas Day is a holiday, then the weekend
    (at(2026, 12, 1, 16), 60, at(2026, 12, 1, 17)),           # ends exactly at closing time
    (at(2026, 3, 27, 16), 120, at(2026, 3, 30, 10)),          # over the night summer time starts
])
def test_adding_business_minutes(start, minutes, due):
    assert add_business_minutes(OFFICE, start, minutes) == due


def test_minutes_between_count_only_working_time():
    assert business_minutes_between(OFFICE, at(2026, 12, 4, 16), at(2026, 12, 7, 10)) == 120
    assert business_minutes_between(OFFICE, at(2026, 12, 24, 16), at(2026, 12, 28, 9)) == 60
    assert business_minutes_between(OFFICE, at(2026, 12, 7, 10), at(2026, 12, 4, 16)) == 0


def test_round_trip_over_a_month():
    start = at(2026, 12, 1, 11, 17)
    for minutes in (1, 59, 480, 481, 2400, 9999):
        assert business_minutes_between(OFFICE, start, add_business_minutes(OFFICE, start, minutes)) == minutes


def test_a_calendar_without_hours_is_an_error_not_a_hang():
    with pytest.raises(NoWorkingHours):
        add_business_minutes(Hours(zone="Europe/Berlin", week={}), at(2026, 12, 1, 10), 60)
