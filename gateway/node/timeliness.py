"""The office's timeliness report: who reported what in a month, on time or late.

Each filing was stamped at intake against its category's reporting deadline
(双公示: 7 working days from the decision, on the official calendar). The
report sums them per department for one calendar month of China Standard Time,
and names the departments expected to report (``[reporting] departments``) that
filed nothing in that month ("other credit information at least monthly").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from gateway.core.errors import InputError
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.store import DepartmentFilings, Store

__all__ = ["Month", "TimelinessReport", "timeliness_report"]

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month of China Standard Time."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM``.

        Raises:
            InputError: ``text`` is not a month of that form.
        """
        match = _MONTH_RE.fullmatch(text)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
            raise InputError(f"month {text!r} is not of the form YYYY-MM (e.g. 2026-11)")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, time: int) -> Month:
        """The month (China Standard Time) that ``time`` (Unix seconds) falls in."""
        day = dt.datetime.fromtimestamp(time, CHINA_STANDARD_TIME)
        return cls(day.year, day.month)

    def bounds(self) -> tuple[int, int]:
        """[start, end) of the month in Unix seconds."""
        start = dt.datetime(self.year, self.month, 1, tzinfo=CHINA_STANDARD_TIME)
        after = (self.year, self.month + 1) if self.month < 12 else (self.year + 1, 1)
        end = dt.datetime(*after, 1, tzinfo=CHINA_STANDARD_TIME)
        return int(start.timestamp()), int(end.timestamp())

    def days(self) -> tuple[str, str]:
        """The first and last day of the month, YYYY-MM-DD."""
        start, end = self.bounds()
        first = dt.datetime.fromtimestamp(start, CHINA_STANDARD_TIME).date()
        last = dt.datetime.fromtimestamp(end - 1, CHINA_STANDARD_TIME).date()
        return first.isoformat(), last.isoformat()

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, slots=True)
class TimelinessReport:
    """One month's filings per department, and the expected departments that filed nothing."""

    month: Month
    departments: tuple[DepartmentFilings, ...]
    silent: tuple[str, ...]

    @property
    def late(self) -> int:
        return sum(d.late for d in self.departments)


def timeliness_report(store: Store, month: Month, expected: tuple[str, ...]) -> TimelinessReport:
    """Sum the month's filings per department.

    Raises:
        StorageError: the database failed.
    """
    since, until = month.bounds()
    departments = tuple(store.filings.by_department(since, until))
    filed = {d.client for d in departments}
    silent = tuple(sorted(name for name in set(expected) if name not in filed))
    return TimelinessReport(month, departments, silent)
