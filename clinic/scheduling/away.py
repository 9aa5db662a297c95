"""Time off and closures as the schedule's day and week show them: a band on each day a clinician is away or
their department (or the hospital) is closed, so staff see whose day is empty and why, not only notes on
the consultations it clashes with."""

from datetime import date, datetime
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, bindparam, cast, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from ..models import Clinician, Closure, Department, Service, TimeOff, clinician_service
from ..models.driver import driver_rows
from .timezones import clock_label, day_bounds
from .visibility import Scope


class Away(NamedTuple):
    """A clinician's time off on one day, or a closure, cut to that day. Time off's note is not shown: the
    clinician's own; a closure's is, as the admins wrote it for everyone."""

    whose: (
        str  # the clinician's name; for a closure, its department's, or "Hospital" for the whole hospital's
    )
    starts: str | None  # as the schedule's clock reads it (timezones.clock_label); None: from the day's start
    ends: str | None  # None: to the day's end
    closure: str | None = None  # a closure's note ("" for none); None for time off

    @property
    def when(self) -> str:
        """e.g. "all day", "09:00 to 13:00", "from 13:00", "until 12:00"."""
        if self.starts is None:
            return "all day" if self.ends is None else f"until {self.ends}"
        return f"from {self.starts}" if self.ends is None else f"{self.starts} to {self.ends}"


def away_by_day(session: Session, scope: Scope, days: list[date], tz: ZoneInfo) -> dict[date, list[Away]]:
    """The time off of the clinicians `scope` lists (one, or its department's) and the closures covering them
    on each of `days` in `tz`, by day, in time order. On the driver's path, as the listing: each poll of the
    day page runs it."""
    if scope.department is None:
        return {day: [] for day in days}
    kind = "clinician" if scope.clinician is not None else "department"
    whose = scope.clinician.id if scope.clinician is not None else scope.department.id
    bounds = {day: day_bounds(day, tz) for day in days}
    start, end = bounds[days[0]][0], bounds[days[-1]][1]
    parameters = {"start": start, "end": end, "whose": whose, "department": scope.department.id}
    rows = driver_rows(session, _away_query(kind), parameters)
    return {day: _on_day(rows, *bounds[day], tz) for day in days}


def _on_day(rows: list[tuple], day_start: datetime, day_end: datetime, tz: ZoneInfo) -> list[Away]:
    return [
        Away(
            name,
            None if starts_at <= day_start else clock_label(starts_at, tz, False),
            None if ends_at >= day_end else clock_label(ends_at, tz, False),
            closure,
        )
        for starts_at, ends_at, name, closure in rows
        if starts_at < day_end and ends_at > day_start
    ]


# A department's schedule lists its clinicians' consultations and its services' (visibility.of_department),
# whoever gives them: it shows the time off of its clinicians and of those of other departments who offer
# one of its services, whom its desk books too.
_OFFERING = (
    select(clinician_service.c.clinician_id)
    .join(Service, Service.id == clinician_service.c.service_id)
    .where(Service.department_id == bindparam("whose"))
)
_WHOSE = {
    "clinician": Clinician.id == bindparam("whose"),
    "department": or_(Clinician.department_id == bindparam("whose"), Clinician.id.in_(_OFFERING)),
}
# The closures that are time off for those clinicians: the hospital's, their department's (a clinician's
# schedule names it), and on a department's those of the departments of the others who offer its services.
_CLOSED = {
    "clinician": Closure.covers(bindparam("department")),
    "department": or_(
        Closure.covers(bindparam("department")),
        Closure.department_id.in_(select(Clinician.department_id).where(Clinician.id.in_(_OFFERING))),
    ),
}


@cache
def _away_query(whose: str) -> Select:
    # Built once for each kind of scope, its values bound on execution (as the listing's): one statement for
    # the time off and the closures, in time order.
    time_off = (
        select(
            TimeOff.starts_at, TimeOff.ends_at, Clinician.display_name.label("whose"), cast(null(), String)
        )
        .join(Clinician, Clinician.id == TimeOff.clinician_id)
        .where(_WHOSE[whose], TimeOff.starts_at < bindparam("end"), TimeOff.ends_at > bindparam("start"))
    )
    closures = (
        select(
            Closure.starts_at,
            Closure.ends_at,
            func.coalesce(Department.name, literal("Hospital")),
            Closure.label,
        )
        .outerjoin(Department, Department.id == Closure.department_id)
        .where(_CLOSED[whose], Closure.starts_at < bindparam("end"), Closure.ends_at > bindparam("start"))
    )
    both = union_all(time_off, closures).subquery()
    return select(both).order_by(both.c.starts_at, both.c.whose)
