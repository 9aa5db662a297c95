"""How long an offer of a freed time is held: its lifetime runs only in the hours of the hospital's day, so a
time freed at night is still open when the patient wakes, and it never runs past the last moment the time
may be booked (its start less the service's minimum notice). Pure: `now` is an argument."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .timezones import wall_instant


@dataclass(frozen=True)
class OfferDay:
    """The hours of the hospital's day, in its zone, in which an offer's lifetime runs: from `starts` to
    `ends` o'clock (24 is midnight)."""

    tz: ZoneInfo
    starts: int
    ends: int

    def __post_init__(self) -> None:
        if not 0 <= self.starts < self.ends <= 24:
            raise ValueError(
                f"the offer day must run forwards within 0 to 24 o'clock, not {self.starts}–{self.ends}"
            )

    def hours_on(self, day: date) -> tuple[datetime, datetime]:
        """The instants the hours of `day` begin and end (a DST change moves them, never the wall clock)."""
        midnight = datetime.combine(day, time())
        return (
            wall_instant(midnight + timedelta(hours=self.starts), self.tz),
            wall_instant(midnight + timedelta(hours=self.ends), self.tz),
        )


def offer_expiry(
    now: datetime, starts_at: datetime, *, lifetime: timedelta, day: OfferDay, min_notice: timedelta
) -> datetime:
    """When an offer made at `now` of a time starting at `starts_at` ends: once `lifetime` of the day's
    hours has passed since `now`, or at `starts_at - min_notice`, after which the time cannot be booked,
    whichever comes first."""
    last_bookable = starts_at - min_notice
    left, today = lifetime, now.astimezone(day.tz).date()
    while True:
        opens, closes = day.hours_on(today)
        counted_from = max(opens, now)
        if counted_from >= last_bookable:
            return last_bookable
        if counted_from < closes:
            if left <= closes - counted_from:
                return min(counted_from + left, last_bookable)
            left -= closes - counted_from
        today += timedelta(days=1)
