"""The slot engine: free consultation times, as a pure function of rules, busy time and `now`.

Everything is computed on integer Unix seconds: wall-clock rules are turned into instants
once per clinician-day (in the clinician's zone, so a 09:00 clinic stays 09:00 across DST),
and each candidate is checked against one sorted, merged list of forbidden intervals.
"""

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

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


@dataclass(frozen=True)
class ClinicianCalendar:
    """What the engine knows of one clinician: zone, hours, time off and booked (blocked) time."""

    clinician_id: int
    time_zone: str
    hours: Sequence[WeeklyHours]
    time_off: Sequence[tuple[datetime, datetime]] = ()
    busy: Sequence[tuple[datetime, datetime]] = ()


@dataclass(frozen=True, order=True)
class Slot:
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
    lower = max(_epoch(window_start), _epoch(now) + rules.min_notice * 60)
    upper = min(_epoch(window_end), _epoch(now) + rules.horizon_days * 86400 + 1)
    if lower >= upper:
        return []
    instants: dict[int, datetime] = {}
    found: list[tuple[int, int]] = []
    for calendar in calendars:
        for start in _clinician_starts(rules, calendar, lower, upper):
            found.append((start, calendar.clinician_id))
    found.sort()
    length = rules.duration * 60
    slots = []
    for start, clinician_id in found:
        begin = instants.get(start) or instants.setdefault(start, datetime.fromtimestamp(start, UTC))
        finish = instants.get(start + length) or instants.setdefault(
            start + length, datetime.fromtimestamp(start + length, UTC)
        )
        slots.append(Slot(begin, finish, clinician_id))
    return slots


def _clinician_starts(rules: SlotRules, calendar: ClinicianCalendar, lower: int, upper: int) -> list[int]:
    starts, ends = _forbidden(rules, calendar)
    length, step = rules.duration * 60, rules.interval * 60
    found: set[int] = set()
    for rule_end, candidates in _working_periods(calendar, lower, upper, step):
        for start in candidates:
            end = start + length
            if end > rule_end:
                break
            if start < lower or start >= upper:
                continue
            i = bisect_left(starts, end) - 1
            if i >= 0 and ends[i] > start:
                continue
            found.add(start)
    return sorted(found)


def _forbidden(rules: SlotRules, calendar: ClinicianCalendar) -> tuple[list[int], list[int]]:
    """Time off, and booked time widened by this service's buffers, merged and sorted.

    A new consultation [s, e) with buffers b/a clashes with blocked time [c, d) when
    s - b < d and e + a > c, i.e. when [s, e) meets [c - a, d + b).
    """
    before, after = rules.buffer_before * 60, rules.buffer_after * 60
    spans = [(_epoch(a), _epoch(b)) for a, b in calendar.time_off]
    spans += [(_epoch(c) - after, _epoch(d) + before) for c, d in calendar.busy]
    spans.sort()
    starts: list[int] = []
    ends: list[int] = []
    for a, b in spans:
        if ends and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return starts, ends


def _working_periods(calendar: ClinicianCalendar, lower: int, upper: int, step: int):
    """Yield (end, candidate starts) for each rule on each local day near the window."""
    first = _local_date(calendar.time_zone, lower) - timedelta(days=1)
    last = _local_date(calendar.time_zone, upper)
    day = first
    while day <= last:
        for hours in calendar.hours:
            if hours.applies_on(day):
                period = _period(calendar.time_zone, day, hours.start, hours.end)
                if period[1] > lower and period[0] < upper:
                    yield period[1], _candidates(calendar.time_zone, day, hours, period, step)
        day += timedelta(days=1)


def _candidates(tz_name: str, day: date, hours: WeeklyHours, period: tuple[int, int], step: int):
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


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp())
