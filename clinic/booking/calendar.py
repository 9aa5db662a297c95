"""Free times laid out for a patient: grouped by day in their own zone, a few days per page."""

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request
from sqlalchemy.orm import Session

from ..models import Consultation, Service
from ..scheduling.availability import Booker, find_new_starts, find_starts
from ..scheduling.lifecycle import first_changeable_start
from ..scheduling.offered import OfferedService
from ..scheduling.timezones import (
    clock_time,
    clocks_change,
    day_bounds,
    format_local,
    read_twice,
    uses_12_hour_clock,
    utc_offset,
    zone,
    zone_label,
)


class TimeChoice(NamedTuple):
    """A free time as a patient picks it: a tuple, cheap to make by the hundred for a page."""

    value: str  # the instant as forms carry it, e.g. 2026-03-09T14:00Z
    label: str  # the patient's wall-clock time, e.g. 09:00 or 9:00 am
    changeable: bool = True  # False: already past the change cut-off when booked, so phone to change it


@dataclass(frozen=True)
class Day:
    date: date
    label: str  # e.g. Monday 9 March
    times: list[TimeChoice]


@dataclass(frozen=True)
class CalendarPage:
    """`days_shown` consecutive days of free times, and the first days of the pages around it."""

    days: list[Day]
    previous: date | None
    next: date | None
    service: Service | OfferedService
    nearest_free: date | None = None  # with no times shown: the nearest day with one (later first)

    @property
    def has_times(self) -> bool:
        return any(day.times for day in self.days)

    @property
    def has_unchangeable_times(self) -> bool:
        return any(not time.changeable for day in self.days for time in day.times)


def form_value(instant: datetime) -> str:
    """How a form carries an instant: UTC, to the minute, e.g. 2026-03-09T14:00Z."""
    return _minute_value(int(instant.timestamp() // 60))


def _minute_value(minute: int) -> str:
    """The form value of the instant `minute` minutes after the Unix epoch: its UTC day, then a looked-up
    time of day (the time step writes one for each of about 170 free times)."""
    return f"{date.fromordinal(_EPOCH_ORDINAL + minute // 1440).isoformat()}T{_UTC_MINUTES[minute % 1440]}"


def reader_language() -> str:
    """This request's reader's first language, as their browser says it (en-US), or "" if it says none."""
    return (request.accept_languages.best or "") if has_request_context() else ""


def twelve_hour_reader() -> bool:
    """Whether this request's reader reads a 12-hour clock, by their browser's first language
    (en-US: 2:30 pm; en-GB and most others: 14:30). The one place that choice is made; their mails,
    written later by the worker, read it from the language kept with their booking (reader_language)."""
    return uses_12_hour_clock(reader_language())


def local_time(instant: datetime, tz: ZoneInfo | str, until: datetime | None = None) -> str:
    """The instant (and with `until`, the span to it) as this request's reader reads it, with the zone's
    name: a template filter."""
    return format_local(instant, tz if isinstance(tz, ZoneInfo) else zone(tz), twelve_hour_reader(), until)


def hospital_time(instant: datetime, tz: ZoneInfo | str) -> str:
    """The instant on the hospital's clock (see local_time) when it reads other than in `tz` (a booking's
    zone, chosen by whoever booked: a carer abroad, say), else "": a template filter. Whoever opens the
    booking in the hospital's country reads their own time too."""
    here = zone(current_app.config["DEFAULT_TIME_ZONE"])
    theirs = tz if isinstance(tz, ZoneInfo) else zone(tz)
    if instant.astimezone(here).utcoffset() == instant.astimezone(theirs).utcoffset():
        return ""
    return local_time(instant, here)


def local_day(instant: datetime, tz: str, last: bool = False) -> str:
    """The day an instant falls on in the zone, e.g. Monday 9 March 2026: a template filter. `last`: the
    day an exclusive end closes (an instant at midnight ends the day before)."""
    local = instant.astimezone(zone(tz)) - (timedelta(microseconds=1) if last else timedelta())
    return f"{day_label(local.date())} {local.year}"


def zone_on(tz: ZoneInfo | str, day: date, last: date | None = None) -> str:
    """The zone (or zone name) as people know it, with its offset on `day` (e.g. UK time, GMT+1): a template
    filter. With `last`, over the days from `day` to `last`. Each change of the clocks among those days is
    named, at the time the clock read as it moved: UK time, GMT+1 until 02:00, then GMT+0 (one day); UK
    time, GMT+0 until 01:00 on Sunday 28 March, then GMT+1 (several)."""
    tz = tz if isinstance(tz, ZoneInfo) else zone(tz)
    days = [day + timedelta(days=n) for n in range(((last or day) - day).days + 1)]
    changes = []
    for shown in days:
        starts = day_bounds(shown, tz)[0]
        if shown > day and (starts - _SECOND).astimezone(tz).utcoffset() != starts.astimezone(tz).utcoffset():
            changes.append(starts)  # at midnight: Havana's day begins at 01:00 in spring
        if (change := clocks_change(shown, tz)) is not None:
            changes.append(change)
    if not changes:
        return zone_label(tz, datetime.combine(day, time(12), tzinfo=tz))
    parts = [f"{zone_label(tz, changes[0] - _SECOND)} until {_moved_at(changes[0], tz, len(days) > 1)}"]
    for change, following in zip(changes, [*changes[1:], None], strict=True):
        until = f" until {_moved_at(following, tz, True)}" if following else ""
        parts.append(f"then {utc_offset(tz, change)}{until}")
    return ", ".join(parts)


def _moved_at(change: datetime, tz: ZoneInfo, with_day: bool) -> str:
    """When the clocks change at `change`, as the clock read before it moved: 02:00, or midnight (with
    `with_day`: 02:00 on Sunday 25 October, midnight on Saturday 4 April)."""
    wall = change.replace(tzinfo=None) + (change - _SECOND).astimezone(tz).utcoffset()
    at = "midnight" if wall.time() == time() else clock_time(wall, False)
    return f"{at} on {day_label((wall - _SECOND).date())}" if with_day else at


@lru_cache(maxsize=1024)  # a page labels each of its days
def day_label(day: date) -> str:
    """A day as a heading over its times, e.g. Monday 9 March."""
    return f"{day:%A} {day.day} {day:%B}"


def group_by_day(
    starts: Iterable[datetime],
    tz: ZoneInfo,
    days: Iterable[date] = (),
    *,
    changeable_from: datetime | None = None,
    twelve_hour: bool = False,
) -> list[Day]:
    """Free starts (sorted, each once) under their local days; `days` are listed even when they have no times.

    Starts before `changeable_from` (see lifecycle.first_changeable_start) are marked unchangeable.
    """
    times: dict[date, list[TimeChoice]] = {day: [] for day in days}
    seconds = list(map(datetime.timestamp, starts))
    cut = changeable_from.timestamp() if changeable_from else float("-inf")
    first = 0
    while first < len(seconds):
        offset, local_day, run_end, said = _offset_run(seconds[first], tz)
        end = bisect_left(seconds, run_end, first + 1)
        run = tuple(seconds[first:end])
        times.setdefault(local_day, []).extend(
            _labelled(run, offset, bisect_left(run, cut), twelve_hour, said)
        )
        first = end
    return [Day(day, day_label(day), choices) for day, choices in sorted(times.items())]


def _offset_run(seconds: float, tz: ZoneInfo) -> tuple[int, date, float, str]:
    """The zone's offset in minutes at the instant `seconds`, its local day there, and the instant until
    which both hold: the day's end, or `seconds` itself on a day the clocks change; and what its label
    adds to the time: the offset of a time the clock reads twice (see clock_label), else nothing."""
    local = datetime.fromtimestamp(seconds, tz)
    steady_offset, day_end = _local_day(tz, local.date())
    if steady_offset is None:
        said = f" ({utc_offset(tz, local)})" if read_twice(local) else ""
        return int(local.utcoffset().total_seconds()) // 60, local.date(), seconds, said
    return steady_offset, local.date(), day_end, ""


@lru_cache(maxsize=1024)
def _local_day(tz: ZoneInfo, day: date) -> tuple[int | None, float]:
    """The zone's offset in minutes all through `day`, None if the clocks change that day; and its end."""
    day_start, day_end = day_bounds(day, tz)
    first, last = (instant.astimezone(tz).utcoffset() for instant in (day_start, day_end - _SECOND))
    return int(first.total_seconds()) // 60 if first == last else None, day_end.timestamp()


@lru_cache(maxsize=512)  # a run is a day's free times: patients looking at the same days share them
def _labelled(
    run: tuple[float, ...], offset: int, unchangeable: int, twelve_hour: bool, said: str = ""
) -> tuple[TimeChoice, ...]:
    """The free times at `run` (sorted UTC seconds, over which the zone is `offset` minutes ahead), the
    first `unchangeable` of them marked so; `said` follows each time in its label."""
    labels, choices = _CLOCK_LABELS[twelve_hour], []
    for index, seconds in enumerate(run):
        minute = int(seconds // 60)
        label = labels[(minute + offset) % 1440] + said
        choices.append(TimeChoice(_minute_value(minute), label, index >= unchangeable))
    return tuple(choices)


# The 1,440 minutes of a day as a form value ends (14:00Z) and as clocks read them (14:00, or 2:00 pm).
_UTC_MINUTES = tuple(f"{hour:02d}:{minute:02d}Z" for hour in range(24) for minute in range(60))
_CLOCK_LABELS = {
    twelve: tuple(clock_time(time(hour, minute), twelve) for hour in range(24) for minute in range(60))
    for twelve in (False, True)
}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECOND = timedelta(seconds=1)


def page(
    session: Session,
    service: Service | OfferedService,
    clinician_id: int | None,
    tz: ZoneInfo,
    requested: date | None,
    now: datetime,
    days_shown: int,
    *,
    twelve_hour: bool = False,
    booker: Booker = Booker.PATIENT,
    moving: Consultation | None = None,
    room_opens: timedelta | None = None,
) -> CalendarPage:
    """The page of free times `booker` may book, starting on `requested` (kept between today and the
    booking horizon); or, for a booking `moving` (of `service`) to another time or clinician, those it may
    move to with `clinician_id` (None: whoever is free first), as `availability.find_new_starts` has them
    (`room_opens`: how long before its start a waiting room opens, for a patient waiting).

    A page without free times names the nearest day that has one, so it always offers a way on.
    """
    today = now.astimezone(tz).date()
    horizon = now + timedelta(days=service.horizon_days)
    last = horizon.astimezone(tz).date()
    first = max(today, min(requested or today, last))
    shown = [first + timedelta(days=n) for n in range(days_shown)]
    window_start, window_end = day_bounds(shown[0], tz)[0], day_bounds(shown[-1], tz)[1]
    search = _Search(session, service, clinician_id, now, booker, moving, room_opens)
    starts = search.starts(window_start, window_end)
    earlier = max(today, first - timedelta(days=days_shown))
    later = first + timedelta(days=days_shown)
    nearest = None
    if not starts:  # rare, so the wider search costs only here
        nearest_start = search.first(window_end, horizon) or search.first(now, window_start)
        nearest = nearest_start and nearest_start.astimezone(tz).date()
    changeable_from = first_changeable_start(service, now)
    return CalendarPage(
        days=group_by_day(starts, tz, shown, changeable_from=changeable_from, twelve_hour=twelve_hour),
        previous=earlier if first > today else None,
        next=later if later <= last else None,
        service=service,
        nearest_free=nearest,
    )


@dataclass(frozen=True)
class _Search:
    """The free starts of one page's service and clinician (see `page`), in any window."""

    session: Session
    service: Service | OfferedService
    clinician_id: int | None
    now: datetime
    booker: Booker
    moving: Consultation | None
    room_opens: timedelta | None = None

    def starts(self, window_start: datetime, window_end: datetime) -> list[datetime]:
        if window_start >= window_end:
            return []
        if self.moving is not None:
            return find_new_starts(
                self.session,
                self.moving,
                window_start,
                window_end,
                self.now,
                self.clinician_id,
                self.booker,
                self.room_opens,
            )
        return find_starts(
            self.session,
            self.service,
            window_start,
            window_end,
            self.now,
            self.clinician_id,
            booker=self.booker,
        )

    def first(self, window_start: datetime, window_end: datetime) -> datetime | None:
        starts = self.starts(window_start, window_end)
        return starts[0] if starts else None
