"""Free times laid out for a patient: grouped by day in their own zone, a few days per page."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..models import Service
from ..scheduling.availability import find_slots
from ..scheduling.slots import Slot
from ..scheduling.timezones import day_bounds, format_local, zone


@dataclass(frozen=True)
class TimeChoice:
    value: str  # the instant as forms carry it, e.g. 2026-03-09T14:00Z
    label: str  # the patient's wall-clock time, e.g. 09:00


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

    @property
    def has_times(self) -> bool:
        return any(day.times for day in self.days)


def form_value(instant: datetime) -> str:
    """How a form carries an instant: UTC, to the minute, e.g. 2026-03-09T14:00Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def local_time(instant: datetime, tz: ZoneInfo | str) -> str:
    """The instant as the patient reads it, with the zone's name: a template filter."""
    return format_local(instant, tz if isinstance(tz, ZoneInfo) else zone(tz))


def day_label(day: date) -> str:
    """A day as a heading over its times, e.g. Monday 9 March."""
    return f"{day:%A} {day.day} {day:%B}"


def group_by_day(slots: Iterable[Slot], tz: ZoneInfo, days: Iterable[date] = ()) -> list[Day]:
    """Each start once, under its local day; `days` are listed even when they have no times."""
    times: dict[date, dict[str, TimeChoice]] = {day: {} for day in days}
    for slot in sorted(slots):
        local = slot.start.astimezone(tz)
        value = form_value(slot.start)
        times.setdefault(local.date(), {}).setdefault(value, TimeChoice(value, f"{local:%H:%M}"))
    return [Day(day, day_label(day), list(choices.values())) for day, choices in sorted(times.items())]


def page(
    session: Session,
    service: Service,
    clinician_id: int | None,
    tz: ZoneInfo,
    requested: date | None,
    now: datetime,
    days_shown: int,
) -> CalendarPage:
    """The page of free times starting on `requested` (kept between today and the booking horizon)."""
    today = now.astimezone(tz).date()
    last = (now + timedelta(days=service.horizon_days)).astimezone(tz).date()
    first = max(today, min(requested or today, last))
    shown = [first + timedelta(days=n) for n in range(days_shown)]
    window_start, window_end = day_bounds(shown[0], tz)[0], day_bounds(shown[-1], tz)[1]
    slots = find_slots(session, service, window_start, window_end, now, clinician_id)
    earlier = max(today, first - timedelta(days=days_shown))
    later = first + timedelta(days=days_shown)
    return CalendarPage(
        days=group_by_day(slots, tz, shown),
        previous=earlier if first > today else None,
        next=later if later <= last else None,
    )
