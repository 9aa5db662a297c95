"""The slot engine: free consultation times, as a pure function of rules, busy time and `now`.

Everything is computed on integer Unix seconds: wall-clock rules are turned into instants
once per day for each zone and set of weekly hours (in that zone, so a 09:00 clinic stays
09:00 across DST), and a clinician's free starts are those candidates less the runs of them
that each blocked span rules out, kept as bit masks over the candidates (see `_Grid`).
"""

import gc
import math
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, reduce
from itertools import chain, compress, pairwise, repeat
from operator import add, or_
from typing import NamedTuple

from .timezones import NonExistentLocalTime, local_to_utc, wall_instant, zone


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

    def meets(self, other: "WeeklyHours") -> bool:
        """Whether the two periods share wall-clock time in the week, a period past midnight counted on into
        the next day (Sunday's into Monday's); the dates they apply between are not considered."""
        (start, end), (other_start, other_end) = self._in_week(), other._in_week()
        return any(start < other_end + shift and other_start + shift < end for shift in (-_WEEK, 0, _WEEK))

    def _in_week(self) -> tuple[int, int]:
        """The period as seconds from Monday 00:00, its end past its start (and past the week's end for a
        period running into Monday)."""
        start = self.weekday * 86400 + self.start.hour * 3600 + self.start.minute * 60
        return start, start + _wall_seconds(self)


_WEEK = 7 * 86400

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
    found: dict[int, list[int]] = defaultdict(list)  # start -> clinicians free then, in calendar order
    in_order, previous = True, None
    for calendar, grid in _calendar_grids(rules, calendars, window_start, window_end, now):
        _add(found, grid.free_starts(calendar), calendar.clinician_id)
        in_order = in_order and (previous is None or previous < calendar.clinician_id)
        previous = calendar.clinician_id
    return _slots(found, rules.duration * 60, in_order)


def available_starts(
    rules: SlotRules,
    calendars: Iterable[ClinicianCalendar],
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> list[datetime]:
    """The distinct starts of `available_slots`, sorted: the times to choose from when any clinician
    will do, without a Slot for each clinician free at each time."""
    free: dict[_Grid, int] = {}  # grid -> its starts at which someone is free, as a bit mask
    for calendar, grid in _calendar_grids(rules, calendars, window_start, window_end, now):
        so_far = free.get(grid, 0)
        if so_far != grid.every_start:  # once someone is free at every start, the rest add none
            free[grid] = so_far | grid.free_mask(calendar)
    starts = set().union(*(grid.starts_in(mask) for grid, mask in free.items()))
    return list(map(datetime.fromtimestamp, sorted(starts), repeat(UTC)))


def _calendar_grids(
    rules: SlotRules,
    calendars: Iterable[ClinicianCalendar],
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> Iterator[tuple[ClinicianCalendar, "_Grid"]]:
    """Each calendar with the candidate starts of its zone and weekly hours in the window, from the end of
    the notice to the horizon; nothing when that leaves no time."""
    # Starts are whole seconds, so each bound is rounded to the side that keeps its meaning: a time that
    # began a fraction of a second ago has started, and the horizon's last second is still inside it.
    window = (_second_at_or_after(window_start), _second_at_or_after(window_end))
    lower = max(window[0], _second_at_or_after(now) + rules.min_notice * 60)
    upper = min(window[1], _second_at_or_before(now) + rules.horizon_days * 86400 + 1)
    if lower >= upper:
        return
    # A window that neither the notice nor the horizon cuts has the same grids for every search of it.
    grid_of = _kept_grid if (lower, upper) == window else _grid
    # Clinicians often share a zone and weekly hours: their candidate starts are found once per call.
    # The loader hands out one hours list per distinct set, so a list is first looked up by identity:
    # hashing the hours by value runs Python code per rule, a fifth of a one-second search for 20
    # clinicians. The list is kept in its entry, so its id names no other list during the call.
    by_list: dict[tuple[str, int], tuple[Sequence[WeeklyHours], _Grid]] = {}
    by_value: dict[tuple, _Grid] = {}
    for calendar in calendars:
        seen = by_list.get((calendar.time_zone, id(calendar.hours)))
        if seen is None:
            key = (calendar.time_zone, tuple(calendar.hours))
            grid = by_value.get(key) or by_value.setdefault(key, grid_of(*key, lower, upper, rules))
            seen = by_list[calendar.time_zone, id(calendar.hours)] = (calendar.hours, grid)
        yield calendar, seen[1]


def open_time(calendar: ClinicianCalendar, lower: int, upper: int) -> list[tuple[int, int]]:
    """The working time in [lower, upper) (Unix seconds) outside time off, as sorted disjoint intervals:
    the time the clinician offers, booked or not (bookings are ignored)."""
    work_starts, work_ends = _working_time(calendar.time_zone, tuple(calendar.hours), lower, upper)
    off_starts, off_ends = _merged(_in_seconds(calendar.time_off))
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


def _slots(found: dict[int, list[int]], length: int, in_order: bool) -> list[Slot]:
    """Slots sorted by time, then clinician, sharing one datetime per distinct start and one per end."""
    with _collector_paused():
        return _built_slots(found, length, in_order)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if on) while building many acyclic objects at once.

    Every full collection scans every live object, and each 25 % of growth in long-lived objects
    triggers one: building 440,000 Slots set off five, which took 5 of the 7 s (tracked by
    gc.callbacks). Slots form no cycles, so the collector has nothing to find here.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _built_slots(found: dict[int, list[int]], length: int, in_order: bool) -> list[Slot]:
    # Looped in C: each start's datetimes repeated for each clinician free then, zipped with them.
    starts = sorted(found)
    clinicians = list(map(found.__getitem__, starts))
    if not in_order:
        clinicians = list(map(sorted, clinicians))
    counts = list(map(len, clinicians))
    begins = map(datetime.fromtimestamp, starts, repeat(UTC))
    ends = map(datetime.fromtimestamp, map(add, starts, repeat(length)), repeat(UTC))
    return list(
        map(
            tuple.__new__,  # Slot(...) would run a Python-level __new__ per slot; this stays in C
            repeat(Slot),
            zip(
                chain.from_iterable(map(repeat, begins, counts)),
                chain.from_iterable(map(repeat, ends, counts)),
                chain.from_iterable(clinicians),
                strict=True,
            ),
        )
    )


def _add(found: dict[int, list[int]], starts: Iterable[int], clinician_id: int) -> None:
    """found[start].append(clinician_id) for each start, looped in C: this runs once per slot."""
    _consume(map(list.append, map(found.__getitem__, starts), repeat(clinician_id)))


# Runs an iterator to its end in C, keeping nothing.
_consume = deque(maxlen=0).extend


class _RuledOut(dict):
    """Blocked time (start, end) -> the candidate starts it rules out, those in (start - reach_back,
    end + reach_on), as a bit mask over the grid's starts. Each distinct span is looked up once per
    search: bookings mostly share times."""

    def __init__(self, starts: list[int], reach_back: int, reach_on: int) -> None:
        super().__init__()
        self.starts, self.reach_back, self.reach_on = starts, reach_back, reach_on

    def __missing__(self, span: tuple[Instant, Instant]) -> int:
        start, end = span if isinstance(span[0], int) else map(_second_at_or_before, span)
        first = bisect_right(self.starts, start - self.reach_back)
        stop = bisect_left(self.starts, end + self.reach_on, first)
        mask = self[span] = (1 << stop) - (1 << first)
        return mask


# Bit i of a mask, written in binary and reversed, is character i: '1' -> 1 and '0' -> 0 for compress().
_BITS = bytes.maketrans(b"01", b"\x00\x01")


class _Grid:
    """The candidate starts of one zone and set of weekly hours in the window, clinician-independent,
    sorted and distinct; each already cut to the window and to its working period's end.

    A consultation [s, s + length) with buffers b/a clashes with blocked time [c, d) when
    s - b < d and s + length + a > c, i.e. when c - a - length < s < d + b; with time off [c, d)
    when c - length < s < d. So each span rules out a run of the sorted starts, a run of bits in a
    mask, and a clinician's free starts are the grid's less the union of those runs: integer ORs and
    a compress() in C, not a test per candidate.
    """

    def __init__(self, starts: list[int], rules: SlotRules) -> None:
        length = rules.duration * 60
        self.starts = starts
        self.every_start = (1 << len(starts)) - 1
        self._busy = _RuledOut(starts, rules.buffer_after * 60 + length, rules.buffer_before * 60)
        self._off = _RuledOut(starts, length, 0)

    def free_mask(self, calendar: ClinicianCalendar) -> int:
        """The starts at which this clinician is free, as a bit mask over the grid's starts."""
        ruled_out = reduce(or_, map(self._busy.__getitem__, calendar.busy), 0)
        if calendar.time_off:
            ruled_out |= reduce(or_, map(self._off.__getitem__, calendar.time_off))
        return self.every_start & ~ruled_out

    def free_starts(self, calendar: ClinicianCalendar) -> list[int]:
        """The starts at which this clinician is free (callers must not change the list)."""
        return self.starts_in(self.free_mask(calendar))

    def starts_in(self, mask: int) -> list[int]:
        """The starts whose bits are set in `mask` (callers must not change the list)."""
        if mask == self.every_start:
            return self.starts
        return list(compress(self.starts, format(mask, "b")[::-1].encode().translate(_BITS)))


def _grid(time_zone: str, hours: tuple[WeeklyHours, ...], lower: int, upper: int, rules: SlotRules) -> _Grid:
    length, calendar = rules.duration * 60, ClinicianCalendar(0, time_zone, hours)
    periods = []
    for rule_end, candidates in _working_periods(calendar, lower, upper, rules.interval * 60):
        if isinstance(candidates, range):
            first = max(lower, candidates.start)
            first += (candidates.start - first) % candidates.step  # back on the step grid
            last = min(upper - 1, rule_end - length, candidates.stop - 1)
            cut = range(first, last + 1, candidates.step)
        else:
            cut = [s for s in candidates if lower <= s < upper and s + length <= rule_end]
        if cut:
            periods.append(cut)
    periods.sort(key=lambda period: period[0])
    starts = list(chain.from_iterable(periods))
    # Overlapping rules share starts: a start is free if it fits any of their periods.
    overlapping = any(later[0] <= earlier[-1] for earlier, later in pairwise(periods))
    return _Grid(sorted(set(starts)) if overlapping else starts, rules)


# Kept with the masks of the blocked times each has met (_RuledOut), which the next search of the window
# mostly meets again: patients look at the same days, and a booking changes one clinician's calendar.
_kept_grid = lru_cache(maxsize=128)(_grid)


def _in_seconds(spans: Sequence[tuple[Instant, Instant]]) -> list[tuple[int, int]]:
    """The spans as a new list in Unix seconds; the loader's are so already, and pass unconverted."""
    if spans and isinstance(spans[0][0], int):
        return list(spans)
    return [(_second_at_or_before(a), _second_at_or_before(b)) for a, b in spans]


# A working period: its end instant and its candidate starts (a range unless DST intervenes).
_Period = tuple[int, range | list[int]]


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
    """A rule's start and end on `day` as instants (a time lost to DST is reached at the jump)."""
    tz = zone(tz_name)
    end_day = day if end > start else day + timedelta(days=1)
    begin = wall_instant(datetime.combine(day, start), tz)
    finish = wall_instant(datetime.combine(end_day, end), tz)
    return int(begin.timestamp()), int(finish.timestamp())


@lru_cache(maxsize=65536)
def _local_date(tz_name: str, instant: int) -> date:
    return datetime.fromtimestamp(instant, zone(tz_name)).date()


def _second_at_or_before(instant: Instant) -> int:
    return instant if isinstance(instant, int) else math.floor(instant.timestamp())


def _second_at_or_after(instant: Instant) -> int:
    return instant if isinstance(instant, int) else math.ceil(instant.timestamp())
