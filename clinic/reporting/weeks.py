"""The period a report covers: whole ISO weeks (and their days) in the hospital's time zone, and one
department or all."""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, literal_column

from ..scheduling.timezones import day_bounds

# The longest period a report covers: two years of weeks (plus the partial ones at the ends).
MAX_WEEKS = 106
DEFAULT_PAST_WEEKS = 8


@dataclass(frozen=True)
class Week:
    """One ISO week (Monday to Sunday) in the hospital's zone, and the UTC instants it spans."""

    monday: date
    starts_at: datetime
    ends_at: datetime

    @property
    def label(self) -> str:
        """'2026-W10', as ISO 8601 writes a week."""
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"


@dataclass(frozen=True)
class Day:
    """One day in the hospital's zone, and the UTC instants it spans (23 or 25 hours on a DST day)."""

    day: date
    starts_at: datetime
    ends_at: datetime

    @property
    def label(self) -> str:
        return self.day.isoformat()


class PeriodTooLong(ValueError):
    """A period of more than MAX_WEEKS weeks."""


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: the weeks from `first_day`'s to `last_day`'s, in `tz`; one department or all."""

    first_day: date
    last_day: date
    tz: ZoneInfo
    department_id: int | None = None

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError("The last day of a period comes before its first.")
        if (_monday(self.last_day) - _monday(self.first_day)).days // 7 >= MAX_WEEKS:
            raise PeriodTooLong(f"Choose at most {MAX_WEEKS} weeks.")

    @cached_property
    def weeks(self) -> list[Week]:
        """Every week of the period, in order (the days in `tz`, so a DST week lasts 167 or 169 hours)."""
        mondays = range(_monday(self.first_day).toordinal(), self.last_day.toordinal() + 1, 7)
        return [_week(date.fromordinal(n), self.tz) for n in mondays]

    @property
    def starts_at(self) -> datetime:
        return self.weeks[0].starts_at

    @property
    def ends_at(self) -> datetime:
        return self.weeks[-1].ends_at

    @cached_property
    def days(self) -> list[Day]:
        """Every day of the period's weeks, in order, each with its bounds in `tz`."""
        days = (self.weeks[0].monday + timedelta(days=n) for n in range(7 * len(self.weeks)))
        return [Day(day, *day_bounds(day, self.tz)) for day in days]

    def week_index(self, instant: ColumnElement) -> ColumnElement[int]:
        """SQL for the index in `weeks` of the week holding `instant` (within the period)."""
        return _index_among([week.ends_at for week in self.weeks], instant)

    def day_index(self, instant: ColumnElement) -> ColumnElement[int]:
        """SQL for the index in `days` of the day holding `instant` (within the period)."""
        return _index_among([day.ends_at for day in self.days], instant)

    def seconds_per_week(self, spans: list[tuple[int, int]]) -> list[int]:
        """How much of the sorted, disjoint intervals `spans` (Unix seconds) falls in each week."""
        bounds = [int(week.ends_at.timestamp()) for week in self.weeks]
        totals = [0] * len(bounds)
        for start, end in spans:
            index = bisect_right(bounds, start)
            while start < end and index < len(bounds):
                part_end = min(end, bounds[index])
                totals[index] += part_end - start
                start, index = part_end, index + 1
        return totals


def _index_among(ends: list[datetime], instant: ColumnElement) -> ColumnElement[int]:
    """SQL for the index of the span holding `instant`, of consecutive spans ending at `ends`: the same on
    every database, with the UTC bounds computed here, DST and all. Nested CASEs halve the spans at each
    level, so a row takes about log2(spans) comparisons, not one per span."""

    def among(first: int, last: int) -> ColumnElement[int]:
        if first == last:
            return literal_column(str(first))
        middle = (first + last) // 2
        return case((instant < ends[middle], among(first, middle)), else_=among(middle + 1, last))

    return among(0, len(ends) - 1)


def filled_period(first_day: date | None, last_day: date | None, today: date) -> tuple[date, date]:
    """The period asked for, each day left out filled in: the first, eight weeks before the last (or
    today); the last, this Sunday. A day filled in never makes the period longer than MAX_WEEKS weeks:
    only the days typed can be refused."""
    first = first_day or max(
        default_period(min(today, last_day or today))[0],
        _monday(last_day or today) - timedelta(weeks=MAX_WEEKS - 1),
    )
    longest_to = _monday(first) + timedelta(weeks=MAX_WEEKS, days=-1)
    return first, last_day or min(max(default_period(today)[1], first), longest_to)


def default_period(today: date) -> tuple[date, date]:
    """The last DEFAULT_PAST_WEEKS weeks and this one: Monday eight weeks back to this Sunday."""
    monday = _monday(today)
    return monday - timedelta(weeks=DEFAULT_PAST_WEEKS), monday + timedelta(days=6)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _week(monday: date, tz: ZoneInfo) -> Week:
    return Week(monday, day_bounds(monday, tz)[0], day_bounds(monday + timedelta(days=6), tz)[1])
