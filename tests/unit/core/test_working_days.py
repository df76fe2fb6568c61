"""Reporting deadlines on the official calendar: 调休 counted, uncovered years approximate."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from gateway.core.working_days import (
    Lateness,
    OfficialCalendar,
    lateness,
    reporting_deadline,
)

CALENDAR = OfficialCalendar()
D = dt.date


def test_make_up_weekends_are_working_days_and_holiday_weekdays_are_not() -> None:
    # 2025 National Day and Mid-Autumn: 1-8 October off; Sunday 28 September
    # and Saturday 11 October are make-up working days (调休).
    assert CALENDAR.is_working_day(D(2025, 9, 28)) is True
    assert CALENDAR.is_working_day(D(2025, 10, 11)) is True
    assert CALENDAR.is_working_day(D(2025, 10, 1)) is False
    assert CALENDAR.is_working_day(D(2025, 10, 8)) is False
    assert CALENDAR.is_working_day(D(2025, 9, 27)) is False


def test_a_deadline_across_the_national_day_week_counts_the_make_up_days() -> None:
    # Friday 26 September: 28, 29, 30 September, 9, 10, 11 (Saturday), 13 October.
    assert reporting_deadline(D(2025, 9, 26), 7, CALENDAR) == (D(2025, 10, 13), False)


def test_a_deadline_across_the_spring_festival() -> None:
    # 2025: 28 January to 4 February off; Sunday 26 January and Saturday 8 February worked.
    # Friday 24 January: 26, 27 January, 5, 6, 7, 8 (Saturday), 10 February.
    assert reporting_deadline(D(2025, 1, 24), 7, CALENDAR) == (D(2025, 2, 10), False)


def test_received_on_the_deadline_is_on_time() -> None:
    found = lateness(D(2025, 9, 26), D(2025, 10, 13), 7, CALENDAR)
    assert found == Lateness(D(2025, 10, 13), 0, False)
    assert found.on_time


def test_late_by_the_working_days_after_the_deadline() -> None:
    # 14, 15, 16 October 2025 (Tuesday to Thursday).
    assert lateness(D(2025, 9, 26), D(2025, 10, 16), 7, CALENDAR) == Lateness(
        D(2025, 10, 13), 3, False
    )


def test_received_on_a_day_off_after_the_deadline_counts_as_the_next_working_day() -> None:
    # Decided Wednesday 8 October 2025 (a holiday): 9, 10, 11 (Saturday), 13,
    # 14, 15, 16 October. Received Sunday 19 October: Friday 17 was missed and
    # the record is handled Monday 20, two working days late.
    assert lateness(D(2025, 10, 8), D(2025, 10, 19), 7, CALENDAR) == Lateness(
        D(2025, 10, 16), 2, False
    )


def test_a_year_the_calendar_does_not_cover_falls_back_to_weekdays_marked_approximate() -> None:
    # 2040 is not published yet: Monday-Friday. Monday 2 January 2040 + 7
    # weekdays is Wednesday 11 January.
    assert CALENDAR.covers(D(2040, 1, 2)) is False
    assert reporting_deadline(D(2040, 1, 2), 7, CALENDAR) == (D(2040, 1, 11), True)
    assert lateness(D(2040, 1, 2), D(2040, 1, 13), 7, CALENDAR) == Lateness(D(2040, 1, 11), 2, True)


def test_a_deadline_of_no_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="a deadline of 0 working days is not a deadline"):
        reporting_deadline(D(2025, 1, 2), 0, CALENDAR)


class _PackageCalendar:
    """The package asked afresh on every call: what the official calendar must agree with."""

    def is_working_day(self, day: dt.date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def covers(self, day: dt.date) -> bool:
        try:
            chinese_calendar.is_workday(day)
        except NotImplementedError:
            return False
        return True


def test_the_remembered_calendar_answers_as_the_package_over_years_of_holidays() -> None:
    # 2025 to 2027: every Spring Festival, National Day and 调休 weekend the
    # package carries, and the first uncovered year after them, asked twice
    # (the second time from memory).
    package = _PackageCalendar()
    days = [D(2025, 1, 1) + dt.timedelta(days=n) for n in range(3 * 365)]
    expected = [(package.is_working_day(d), package.covers(d)) for d in days]
    decided = days[::5]
    late = [lateness(d, d + dt.timedelta(days=20), 7, package) for d in decided]
    for _ in range(2):
        assert [(CALENDAR.is_working_day(d), CALENDAR.covers(d)) for d in days] == expected
        assert [lateness(d, d + dt.timedelta(days=20), 7, CALENDAR) for d in decided] == late
    # Holidays and make-up days are in the range, not only weekends.
    assert (False, True) in {
        (w, c) for (w, c), d in zip(expected, days, strict=True) if d.weekday() < 5
    }
    assert (True, True) in {
        (w, c) for (w, c), d in zip(expected, days, strict=True) if d.weekday() >= 5
    }
    assert (True, False) in set(expected)
