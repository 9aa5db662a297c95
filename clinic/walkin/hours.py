"""A queue's opening hours: expanded per date in the queue's zone by the slot engine's own rules, so a
09:00 opening stays 09:00 local across DST; and read from and written as text lines for the admin form."""

import re
from datetime import datetime, time, timedelta

from ..models import WalkInHours, WalkInQueue
from ..scheduling.slots import ClinicianCalendar, WeeklyHours, open_time

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LINE = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+([0-9]{1,2}):([0-9]{2})\s*[-–]\s*([0-9]{1,2}):([0-9]{2})\s*$")
_LOOK_AHEAD = timedelta(days=8)  # past a week of hours that run through midnight
# How far ahead a caller about to join is told when the queue closes: a closing further off is no news.
CLOSING_AHEAD = timedelta(days=1)


def open_until(queue: WalkInQueue, now: datetime) -> datetime | None:
    """When the opening period that `now` falls in ends (hours running into each other are one), or
    None if the queue's hours do not cover `now`. The queue's status is not considered."""
    lower = int(now.timestamp())
    spans = open_time(_calendar(queue), lower, lower + int(_LOOK_AHEAD.total_seconds()))
    if not spans or spans[0][0] > lower:
        return None
    return datetime.fromtimestamp(spans[0][1], now.tzinfo)


def closes_at(queue: WalkInQueue, now: datetime) -> datetime | None:
    """When the opening period that `now` falls in ends, if within a day: what a caller about to join is
    told. None if the queue's hours do not cover `now`, or it stays open longer (round the clock)."""
    until = open_until(queue, now)
    return until if until is not None and until - now < CLOSING_AHEAD else None


def open_since(queue: WalkInQueue, now: datetime, back: timedelta) -> datetime:
    """When the opening period that `now` falls in began, or `now - back` if that is later (or the
    queue's hours do not cover `now`)."""
    lower, upper = int((now - back).timestamp()), int(now.timestamp()) + 1
    spans = open_time(_calendar(queue), lower, upper)
    if spans and spans[-1][1] == upper:  # the last period runs on past now
        return max(now - back, datetime.fromtimestamp(spans[-1][0], now.tzinfo))
    return now - back


def next_opening(queue: WalkInQueue, now: datetime) -> datetime | None:
    """When the queue's hours next begin after `now` (None: it has no hours)."""
    lower = int(now.timestamp())
    spans = open_time(_calendar(queue), lower + 1, lower + int(_LOOK_AHEAD.total_seconds()))
    starts = [start for start, _ in spans if start > lower]
    return datetime.fromtimestamp(starts[0], now.tzinfo) if starts else None


def _calendar(queue: WalkInQueue) -> ClinicianCalendar:
    # The slot engine's calendar of weekly hours, with no time off or bookings: the queue's own hours.
    hours = [WeeklyHours(h.weekday, h.start_time, h.end_time) for h in queue.hours]
    return ClinicianCalendar(0, queue.time_zone, hours)


def parse_hours(text: str) -> list[WalkInHours]:
    """Hours typed one period per line, "Mon 09:00-17:00" ("00:00-00:00" is the whole day); ValueError
    naming the first line that is not one."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        day = match and match.group(1).title()
        if not match or day not in DAY_NAMES:
            raise ValueError(f"Line {number}: write a day and two times, for example Mon 09:00-17:00.")
        try:
            start = time(int(match.group(2)), int(match.group(3)))
            end = time(int(match.group(4)), int(match.group(5)))
        except ValueError:
            raise ValueError(f"Line {number}: times run from 00:00 to 23:59.") from None
        found.append(WalkInHours(weekday=DAY_NAMES.index(day), start_time=start, end_time=end))
    return found


def hours_text(queue: WalkInQueue) -> str:
    """The queue's hours as the admin form shows them: one "Mon 09:00-17:00" line per period."""
    return "\n".join(
        f"{DAY_NAMES[h.weekday]} {h.start_time:%H:%M}-{h.end_time:%H:%M}"
        for h in sorted(queue.hours, key=lambda h: (h.weekday, h.start_time))
    )
