"""The slot engine: free consultation times, as a pure function of rules, busy time and `now`.

Everything is computed on integer Unix seconds: wall-clock rules are turned into instants
once per day for each zone and set of weekly hours (in that zone, so a 09:00 clinic stays
09:00 across DST), and the free starts of each working period are found by interval
arithmetic against the clinician's sorted, merged forbidden intervals.
"""

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from .timezones import NonExistentLocalTime, local_to_utc, zone


@dataclass(frozen=True)
class SlotRules:
    """A service's booking rules, in minutes (horizon in days)."""

    duration: int
    buffer_before: int = 0
    buffer_after: int = 0
    interval: int = 15
    min_notice: int = 0
    horizon_days: int = 60


@dataclass(frozen=True)
class WeeklyHours:
    """Working hours on one weekday (Monday 0) in the clinician's zone; end <= start runs past midnight."""

    weekday: int
    start: time
    end: time
    valid_from: date | None = None
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        return (
            day.weekday() == self.weekday
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )


# An instant: an aware datetime, or Unix seconds as the database loader hands them over.
Instant = datetime | int


@dataclass(frozen=True)
class ClinicianCalendar:
    """What the engine knows of one clinician: zone, hours, time off and booked (blocked) time."""

    clinician_id: int
    time_zone: str
    hours: Sequence[WeeklyHours]
    time_off: Sequence[tuple[Instant, Instant]] = ()
    busy: Sequence[tuple[Instant, Instant]] = ()


class Slot(NamedTuple):
    """A free time, ordered by (start, end, clinician_id): a tuple, cheap to make by the thousand."""

    start: datetime
    end: datetime
    clinician_id: int


def available_slots(
    rules: SlotRules,
    calendars: Iterable[ClinicianCalendar],
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> list[Slot]:
    """Free slots starting in [window_start, window_end), for every clinician, sorted by time.

    A slot is free when the consultation lies inside working hours and outside time off,
    and the consultation with this service's buffers around it touches no existing
    booking's blocked time. Buffers may run into a break or past the end of the day.
    """
    lower = max(_seconds(window_start), _seconds(now) + rules.min_notice * 60)
    upper = min(_seconds(window_end), _seconds(now) + rules.horizon_days * 86400 + 1)
    if lower >= upper:
        return []
    # Clinicians often share a zone and weekly hours: expand each such pair once per call.
    shared: dict[tuple, list[_Period]] = {}
    found: dict[int, list[int]] = defaultdict(list)  # start -> clinicians free then
    for calendar in calendars:
        key = (calendar.time_zone, tuple(calendar.hours))
        if key not in shared:
            shared[key] = _working_periods(calendar, lower, upper, rules.interval * 60)
        for start in _clinician_starts(rules, calendar, shared[key], lower, upper):
            found[start].append(calendar.clinician_id)
    return _slots(found, rules.duration * 60)


def fits_hours(calendar: ClinicianCalendar, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside one working period and clear of time off (bookings ignored).

    The check for consultations booked before the clinician changed their hours or took time off.
    """
    begin, finish = _seconds(start), _seconds(end)
    if any(_seconds(a) < finish and begin < _seconds(b) for a, b in calendar.time_off):
        return False
    today = _local_date(calendar.time_zone, begin)
    for day in (today - timedelta(days=1), today):  # a period may begin the evening before
        for hours in calendar.hours:
            if hours.applies_on(day):
                period_start, period_end = _period(calendar.time_zone, day, hours.start, hours.end)
                if period_start <= begin and finish <= period_end:
                    return True
    return False


def open_time(calendar: ClinicianCalendar, lower: int, upper: int) -> list[tuple[int, int]]:
    """The working time in [lower, upper) (Unix seconds) outside time off, as sorted disjoint intervals:
    the time the clinician offers, booked or not (bookings are ignored)."""
    work_starts, work_ends = _working_time(calendar.time_zone, tuple(calendar.hours), lower, upper)
    off_starts, off_ends = _merged([(_seconds(a), _seconds(b)) for a, b in calendar.time_off])
    open_spans = []
    for start, end in zip(work_starts, work_ends, strict=True):
        i = bisect_right(off_ends, start)  # the first time off that ends after this period starts
        while i < len(off_starts) and off_starts[i] < end:
            if off_starts[i] > start:
                open_spans.append((start, off_starts[i]))
            start = max(start, off_ends[i])
            i += 1
        if start < end:
            open_spans.append((start, end))
    return open_spans


@lru_cache(maxsize=256)
def _working_time(
    time_zone: str, hours: tuple[WeeklyHours, ...], lower: int, upper: int
) -> tuple[list[int], list[int]]:
    """The weekly hours' periods in [lower, upper), merged: clinicians mostly share a zone and hours,
    so a report over many of them expands each such pair once (callers must not change the lists)."""
    calendar = ClinicianCalendar(0, time_zone, hours)
    return _merged(
        [(max(start, lower), min(end, upper)) for _, _, start, end in _periods_near(calendar, lower, upper)]
    )


def _slots(found: dict[int, list[int]], length: int) -> list[Slot]:
    """Slots sorted by time, then clinician, with one datetime per distinct instant."""
    slots: list[Slot] = []
    for start in sorted(found):
        begin, finish = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + length, UTC)
        slots += [Slot(begin, finish, clinician_id) for clinician_id in sorted(found[start])]
    return slots


# A working period: its end instant and its candidate starts (a range unless DST intervenes).
_Period = tuple[int, range | list[int]]


def _clinician_starts(
    rules: SlotRules, calendar: ClinicianCalendar, periods: list[_Period], lower: int, upper: int
) -> set[int]:
    starts, ends = _forbidden(rules, calendar)
    length = rules.duration * 60
    found: set[int] = set()
    for rule_end, candidates in periods:
        if isinstance(candidates, range):
            first = max(lower, candidates.start)
            last = min(upper - 1, rule_end - length, candidates.stop - 1)
            _add_free_starts(found, candidates, first, last, length, starts, ends)
        else:
            found.update(_checked_starts(candidates, rule_end, lower, upper, length, starts, ends))
    return found


def _add_free_starts(
    found: set[int], grid: range, first: int, last: int, length: int, starts: list[int], ends: list[int]
) -> None:
    """Add the grid's starts in [first, last] whose [s, s + length) meets no forbidden interval.

    Interval arithmetic rather than a test per candidate: forbidden [a, b) rules out the
    starts in (a - length, b), so the free starts lie between one b and the next a - length.
    """
    i = bisect_right(ends, first)
    while first <= last:
        free_to = min(last, starts[i] - length) if i < len(starts) else last
        if free_to >= first:
            found.update(range(first + (grid.start - first) % grid.step, free_to + 1, grid.step))
        if i == len(starts):
            return
        first = max(first, ends[i])
        i += 1


def _checked_starts(
    candidates: list[int],
    rule_end: int,
    lower: int,
    upper: int,
    length: int,
    starts: list[int],
    ends: list[int],
) -> Iterator[int]:
    """Candidates tested one by one: for the rare period that a DST change cuts into."""
    for start in candidates:
        end = start + length
        if end > rule_end:
            break
        if start < lower or start >= upper:
            continue
        i = bisect_left(starts, end) - 1
        if i < 0 or ends[i] <= start:
            yield start


def _forbidden(rules: SlotRules, calendar: ClinicianCalendar) -> tuple[list[int], list[int]]:
    """Time off, and booked time widened by this service's buffers, merged and sorted.

    A new consultation [s, e) with buffers b/a clashes with blocked time [c, d) when
    s - b < d and e + a > c, i.e. when [s, e) meets [c - a, d + b).
    """
    before, after = rules.buffer_before * 60, rules.buffer_after * 60
    spans = [(_seconds(a), _seconds(b)) for a, b in calendar.time_off]
    spans += [(_seconds(c) - after, _seconds(d) + before) for c, d in calendar.busy]
    return _merged(spans)


def _merged(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """The union of the intervals `spans`, as the sorted starts and ends of disjoint intervals."""
    starts: list[int] = []
    ends: list[int] = []
    for a, b in sorted(spans):
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _working_periods(calendar: ClinicianCalendar, lower: int, upper: int, step: int) -> list[_Period]:
    """Each rule on each local day near the window, as instants with its candidate starts."""
    return [
        (end, _candidates(calendar.time_zone, day, hours, (start, end), step))
        for day, hours, start, end in _periods_near(calendar, lower, upper)
    ]


def _periods_near(calendar: ClinicianCalendar, lower: int, upper: int) -> Iterator[tuple]:
    """(day, hours, start, end) of each rule on each local day whose period meets [lower, upper)."""
    day = _local_date(calendar.time_zone, lower) - timedelta(days=1)
    last = _local_date(calendar.time_zone, upper)
    while day <= last:
        for hours in calendar.hours:
            if hours.applies_on(day):
                start, end = _period(calendar.time_zone, day, hours.start, hours.end)
                if end > lower and start < upper:
                    yield day, hours, start, end
        day += timedelta(days=1)


def _candidates(
    tz_name: str, day: date, hours: WeeklyHours, period: tuple[int, int], step: int
) -> range | list[int]:
    start, end = period
    wall_length = _wall_seconds(hours)
    if end - start == wall_length:  # no DST change inside: step on the instant line
        return range(start, end, step)
    # A DST change falls inside the period: step on the wall clock, skipping lost times.
    tz = zone(tz_name)
    origin = datetime.combine(day, hours.start)
    found = []
    for offset in range(0, wall_length, step):
        try:
            found.append(int(local_to_utc(origin + timedelta(seconds=offset), tz).timestamp()))
        except NonExistentLocalTime:
            continue
    return found


def _wall_seconds(hours: WeeklyHours) -> int:
    start = hours.start.hour * 3600 + hours.start.minute * 60
    end = hours.end.hour * 3600 + hours.end.minute * 60
    return end - start if end > start else end - start + 86400


@lru_cache(maxsize=65536)
def _period(tz_name: str, day: date, start: time, end: time) -> tuple[int, int]:
    """A rule's start and end on `day` as instants (a start lost to DST begins when the clock resumes)."""
    tz = zone(tz_name)
    end_day = day if end > start else day + timedelta(days=1)
    begin = datetime.combine(day, start, tzinfo=tz).timestamp()
    finish = datetime.combine(end_day, end, tzinfo=tz).timestamp()
    return int(begin), int(finish)


@lru_cache(maxsize=65536)
def _local_date(tz_name: str, instant: int) -> date:
    return datetime.fromtimestamp(instant, zone(tz_name)).date()


def _seconds(instant: Instant) -> int:
    return instant if isinstance(instant, int) else int(instant.timestamp())
