"""The one home of time-zone handling: names to zones, wall clock to instants, display."""

from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import setting_kinds

from .errors import BookingError
from .zone_names import aliases, friendly_name


class InvalidTimeZone(BookingError):
    code = "invalid_time_zone"


class NonExistentLocalTime(BookingError):
    """A wall-clock time skipped by a DST change (e.g. 01:30 on the spring-forward night)."""

    code = "nonexistent_local_time"


def zone(name: object) -> ZoneInfo:
    """The IANA zone called `name`; raises InvalidTimeZone for anything else, of any type.

    The type is checked before any cached lookup: a cache hashes its argument, and a JSON
    object or list is unhashable.
    """
    if not isinstance(name, str) or name not in zone_names_set():
        raise InvalidTimeZone(f"Unknown time zone: {str(name)[:64]!r}")
    try:
        return _loaded(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimeZone(f"Unknown time zone: {name[:64]!r}") from exc


@cache
def _loaded(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_names_set() -> frozenset[str]:
    """Every zone a page or a setting may name: the settings take the same (setting_kinds.py says which)."""
    return setting_kinds.zone_names()


def listed_name(name: str) -> str:
    """The name a zone is listed, chosen and stored by, given any of its names: Europe/Kyiv for Europe/Kiev,
    America/New_York for US/Eastern (zone_names.aliases). Either reads the same times: a booking stored
    by the old name keeps it."""
    return aliases().get(name, name)


@cache
def zone_names() -> tuple[str, ...]:
    """Every selectable zone name, sorted, for pickers."""
    return tuple(sorted(zone_names_set()))


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time names in `tz`.

    Ambiguous times (the repeated hour) take their first occurrence; times skipped by a
    DST change raise NonExistentLocalTime.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        raise NonExistentLocalTime(f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key}")
    return instant


def wall_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant at which the clock in `tz` reaches the naive wall-clock time `wall`: as
    `local_to_utc`, but a time skipped by a DST change is reached when the clock jumps past it.

    Hours that end at 01:30 on the spring-forward night end at the jump, not an hour later.
    """
    try:
        return local_to_utc(wall, tz)
    except NonExistentLocalTime:
        pass
    # In the gap the later offset reads the wall time as an instant before the jump, the earlier after.
    before = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    after = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    return _first_second_changed(before, after, tz)


def _offset_at(instant: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(instant, tz).utcoffset()


def _first_second_changed(before: int, after: int, tz: ZoneInfo) -> datetime:
    """The first second after `before` on another offset than its own, the clocks having changed by `after`
    (both UTC seconds): the instant of the change."""
    first = _offset_at(before, tz)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset_at(middle, tz) == first:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants at which `day` begins and ends in `tz` (23 or 25 hours apart on DST days)."""
    start = datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return start, end


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `tz`; for a day that begins before the first instant Python
    holds (1 January of year 1, east of UTC), that first instant: nothing happened before it either."""
    try:
        return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def clocks_change(day: date, tz: ZoneInfo) -> datetime | None:
    """The instant on `day` at which the clocks in `tz` change (the first one's, on a day of two), or None
    on a day they keep to one offset."""
    start, end = day_bounds(day, tz)
    before, after = int(start.timestamp()), int(end.timestamp()) - 1
    if _offset_at(after, tz) == _offset_at(before, tz):
        return None
    return _first_second_changed(before, after, tz)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz)


def format_local(
    instant: datetime, tz: ZoneInfo, twelve_hour: bool = False, until: datetime | None = None
) -> str:
    """'Tuesday 3 March 2026, 09:00 (UK time, GMT+0)' — the date and time as the viewer reads it; with
    `until`, the span to it on the same clock: 'Tuesday 3 March 2026, 09:00 to 09:30 (UK time, GMT+0)'. A
    span the clocks change in names each end in full, with its own offset: its two times on one clock
    would misread its length (01:30 to 01:00 as the clocks go back)."""
    local = instant.astimezone(tz)
    when = f"{local:%A} {local.day} {local:%B %Y}, {clock_time(local, twelve_hour)}"
    if until is not None:
        end = until.astimezone(tz)
        if end.date() == local.date() and end.utcoffset() == local.utcoffset():
            when += f" to {clock_time(end, twelve_hour)}"
        else:
            return f"{format_local(instant, tz, twelve_hour)} to {format_local(until, tz, twelve_hour)}"
    return f"{when} ({zone_label(tz, instant)})"


def zone_label(tz: ZoneInfo, at: datetime) -> str:
    """The zone as people know it, with its offset at `at`: 'UK time, GMT+1', 'New York, GMT-5'; a zone
    named by its offset, by that alone: 'GMT-5'."""
    friendly, offset = friendly_name(tz.key), utc_offset(tz, at)
    return friendly if friendly == offset else f"{friendly}, {offset}"


# Where a 12-hour clock is what people read (language-region, or a language wherever it is spoken);
# elsewhere, 24-hour. Browsers in the US send en-US; a bare "en" says nothing, so the default holds.
_TWELVE_HOUR_TAGS = frozenset(
    {
        "en-us",
        "en-ca",
        "en-au",
        "en-nz",
        "en-in",
        "en-ph",
        "en-pk",
        "es-us",
        "hi-in",
        "ar-eg",
        "ar-sa",
        "ko-kr",
    }
)
_TWELVE_HOUR_LANGUAGES = frozenset({"hi", "ko", "ar", "ur", "bn"})


def uses_12_hour_clock(language_tag: str) -> bool:
    """Whether a reader whose language is `language_tag` (e.g. en-US, en-GB) reads a 12-hour clock."""
    subtags = language_tag.replace("_", "-").lower().split("-")
    region = next((tag for tag in subtags[1:] if len(tag) == 2), "")
    if region:
        return f"{subtags[0]}-{region}" in _TWELVE_HOUR_TAGS
    return subtags[0] in _TWELVE_HOUR_LANGUAGES


def clock_time(local: datetime, twelve_hour: bool) -> str:
    """A wall-clock time as read on a 24-hour clock (14:30) or a 12-hour one (2:30 pm)."""
    # %-formatting costs a fifth of strftime, and less than f-string specs: the schedule labels two a row.
    if not twelve_hour:
        return "%02d:%02d" % (local.hour, local.minute)  # noqa: UP031
    return "%d:%02d %s" % (local.hour % 12 or 12, local.minute, "am" if local.hour < 12 else "pm")  # noqa: UP031


def clock_label(instant: datetime, tz: ZoneInfo, twelve_hour: bool) -> str:
    """The instant's wall-clock time in `tz` (see clock_time); in the hour the clocks go back, which the
    clock reads twice, with its offset: 01:30 (GMT+1), then 01:30 (GMT+0) an hour later."""
    local = instant.astimezone(tz)
    shown = clock_time(local, twelve_hour)
    return f"{shown} ({utc_offset(tz, local)})" if read_twice(local) else shown


def read_twice(local: datetime) -> bool:
    """Whether the wall-clock time of `local` (an instant as its zone reads it) is read twice that day."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def utc_offset(tz: ZoneInfo, at: datetime) -> str:
    """The zone's offset from GMT at `at`, as people write it: GMT+0, GMT-5, GMT+5:30."""
    minutes = round(at.astimezone(tz).utcoffset().total_seconds() / 60)
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{'-' if minutes < 0 else '+'}{hours}" + (f":{rest:02d}" if rest else "")


def parse_instant(text: str, tz_name: str | None = None) -> datetime:
    """An ISO-8601 date-time as an aware UTC instant.

    With an offset it is taken as given; without one it is a wall-clock time in `tz_name`
    (required then). Raises ValueError, InvalidTimeZone or NonExistentLocalTime. Years 1 and
    9999 are refused: moving a time there to another zone can leave datetime's range.
    """
    if not isinstance(text, str) or len(text) > 40:
        raise ValueError("expected an ISO-8601 date-time string")
    parsed = datetime.fromisoformat(text)
    if not MINYEAR < parsed.year < MAXYEAR:
        raise ValueError("the date-time is out of range")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    if not tz_name:
        raise ValueError("a date-time without an offset needs a time zone")
    return local_to_utc(parsed, zone(tz_name))
