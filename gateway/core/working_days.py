"""Working days of the PRC official calendar, and reporting deadlines counted in them.

行政许可 and 行政处罚 must reach the credit platform within 7 working days of the
decision (Ankang 2020, Zhumadian 2018). Working days follow the State
Council's yearly holiday notice, 调休 included: a weekend can be a make-up
working day and a weekday a holiday. :class:`OfficialCalendar` reads them from
the ``chinesecalendar`` package, which carries each year once the notice is
out; for a year it does not cover yet it falls back to Monday-Friday and says
so, and every verdict counted over such a day is marked approximate.

The rule, counted as a credit office counts it: the decision day is day 0; the
deadline is the Nth working day after it; a record received on or before the
deadline is on time. A late record is late by the working days from the day
after the deadline to the day it was received, a record received on a day off
counting as received on the next working day (when the office can handle it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import chinese_calendar

__all__ = ["Lateness", "OfficialCalendar", "WorkingCalendar", "lateness", "reporting_deadline"]

# More than a year of days off in a row does not happen; a bound keeps a
# corrupt calendar from looping for ever.
_MAX_DAYS_SCANNED = 400
# Days remembered: about eleven years of them, a few hundred kilobytes.
_MEMO_DAYS = 4096


class WorkingCalendar(Protocol):
    """Which days are working days."""

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day (an approximation where not covered)."""
        ...

    def covers(self, day: dt.date) -> bool:
        """Whether the calendar knows ``day`` for sure (not a weekday guess)."""
        ...


@lru_cache(maxsize=_MEMO_DAYS)
def _official_day(day: dt.date) -> tuple[bool, bool]:
    """Whether ``day`` is an official working day, and whether the package covers it.

    A pure function of the date and the installed package, remembered per date:
    the package validates its argument and looks the day up on every call, which
    took more of an intake's time than signing the record did.
    """
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        # A year the package does not carry yet: weekdays, and covers() says so.
        return day.weekday() < 5, False


class OfficialCalendar:
    """The PRC official calendar (holidays and 调休), from ``chinesecalendar``."""

    def is_working_day(self, day: dt.date) -> bool:
        return _official_day(day)[0]

    def covers(self, day: dt.date) -> bool:
        return _official_day(day)[1]


@dataclass(frozen=True, slots=True)
class Lateness:
    """A record's timeliness against its reporting deadline.

    Attributes:
        deadline: the last day on which it was on time.
        late_working_days: 0 when on time.
        approximate: some day counted is in a year the calendar does not cover.
    """

    deadline: dt.date
    late_working_days: int
    approximate: bool

    @property
    def on_time(self) -> bool:
        return self.late_working_days == 0


def _next_working_day(day: dt.date, calendar: WorkingCalendar) -> tuple[dt.date, bool]:
    """The first working day after ``day``, and whether every day passed was covered."""
    covered = True
    for _ in range(_MAX_DAYS_SCANNED):
        day += dt.timedelta(days=1)
        covered = covered and calendar.covers(day)
        if calendar.is_working_day(day):
            return day, covered
    raise ValueError(f"no working day within {_MAX_DAYS_SCANNED} days after {day}")


def reporting_deadline(
    decided: dt.date, working_days: int, calendar: WorkingCalendar
) -> tuple[dt.date, bool]:
    """The last day to report a decision of ``decided``, and whether it is approximate.

    Raises:
        ValueError: ``working_days`` is not positive.
    """
    if working_days < 1:
        raise ValueError(f"a deadline of {working_days} working days is not a deadline")
    day, exact = decided, True
    for _ in range(working_days):
        day, covered = _next_working_day(day, calendar)
        exact = exact and covered
    return day, not exact


def lateness(
    decided: dt.date, received: dt.date, working_days: int, calendar: WorkingCalendar
) -> Lateness:
    """How late a decision of ``decided`` received on ``received`` is.

    Raises:
        ValueError: ``working_days`` is not positive.
    """
    deadline, approximate = reporting_deadline(decided, working_days, calendar)
    late, day = 0, deadline
    while day < received:
        day, covered = _next_working_day(day, calendar)
        approximate = approximate or not covered
        late += 1
    return Lateness(deadline, late, approximate)
