"""Loading what the slot engine needs from the database, and asking it for free times."""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Select, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.functions import FunctionElement

from ..models import (
    AvailabilityRule,
    Clinician,
    Closure,
    Consultation,
    ConsultationStatus,
    Service,
    TimeOff,
    clinician_service,
)
from .errors import NotFound
from .slots import ClinicianCalendar, Slot, SlotRules, WeeklyHours, available_slots, open_time

# No consultation with its buffers lasts longer than this, so a window query can bound its
# index range scan from below: cost follows the window, not the length of the history.
MAX_BLOCK = timedelta(days=1)


class unix_seconds(FunctionElement):
    """An instant column as whole Unix seconds (truncated), so busy rows need no datetime objects."""

    type = BigInteger()
    name = "unix_seconds"
    inherit_cache = True


@compiles(unix_seconds, "sqlite")
def _unix_seconds_sqlite(element, compiler, **kw) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC. SQLite rounds a fraction to milliseconds, so
    # cut it off first; julianday arithmetic is the cheapest exact conversion it has (round()
    # removes the float error, which is far below half a second).
    column = compiler.process(element.clauses, **kw)
    return f"CAST(round((julianday(substr({column}, 1, 19)) - 2440587.5) * 86400) AS INTEGER)"


@compiles(unix_seconds, "postgresql")
def _unix_seconds_postgresql(element, compiler, **kw) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def rules_for(service: Service) -> SlotRules:
    return SlotRules(
        duration=service.duration_minutes,
        buffer_before=service.buffer_before_minutes,
        buffer_after=service.buffer_after_minutes,
        interval=service.slot_interval_minutes,
        min_notice=service.min_notice_minutes,
        horizon_days=service.horizon_days,
    )


def active_service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id) if isinstance(service_id, int) else None
    if service is None or not service.active or not service.department.active:
        raise NotFound("No such service is offered.", field="service")
    return service


def service_clinicians(
    session: Session, service: Service, clinician_id: int | None = None
) -> list[Clinician]:
    """The active clinicians offering `service` (just one when `clinician_id` is given)."""
    query = select(Clinician).options(selectinload(Clinician.availability_rules)).order_by(Clinician.id)
    clinicians = list(session.scalars(_offering(query, service, clinician_id)))
    if clinician_id is not None and not clinicians:
        raise NotFound("That clinician does not offer this service.", field="clinician")
    return clinicians


def _offering(query: Select, service: Service, clinician_id: int | None) -> Select:
    """`query` narrowed to the active clinicians offering `service` (and to one, if given).

    An explicit join: `Clinician.services.contains(service)` builds the same SQL at ten times the cost.
    """
    query = query.join(clinician_service, clinician_service.c.clinician_id == Clinician.id).where(
        clinician_service.c.service_id == service.id, Clinician.active.is_(True)
    )
    return query if clinician_id is None else query.where(Clinician.id == clinician_id)


# What the engine needs of a clinician: id, zone and weekly hours.
_Schedule = tuple[int, str, list[WeeklyHours]]


def _schedules(session: Session, service: Service, clinician_id: int | None = None) -> list[_Schedule]:
    """service_clinicians() as plain rows in one query: a search needs no Clinician objects."""
    schedules = _schedule_rows(session, lambda query: _offering(query, service, clinician_id))
    if clinician_id is not None and not schedules:
        raise NotFound("That clinician does not offer this service.", field="clinician")
    return schedules


def _schedule_rows(session: Session, narrow: Callable[[Select], Select]) -> list[_Schedule]:
    """The id, zone and weekly hours of the clinicians `narrow` keeps, in one query."""
    query = (
        select(
            Clinician.id,
            Clinician.time_zone,
            AvailabilityRule.weekday,
            AvailabilityRule.start_time,
            AvailabilityRule.end_time,
            AvailabilityRule.valid_from,
            AvailabilityRule.valid_until,
        )
        .outerjoin(AvailabilityRule, AvailabilityRule.clinician_id == Clinician.id)
        .order_by(Clinician.id, AvailabilityRule.id)
    )
    schedules: dict[int, _Schedule] = {}
    shared: dict[tuple, WeeklyHours] = {}  # clinicians mostly keep the same hours: one object each
    for owner, time_zone, *rule in session.execute(narrow(query)):
        hours = schedules.setdefault(owner, (owner, time_zone, []))[2]
        if rule[0] is not None:
            key = tuple(rule)
            hours.append(shared.get(key) or shared.setdefault(key, WeeklyHours(*rule)))
    return list(schedules.values())


def find_slots(
    session: Session,
    service: Service,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
) -> list[Slot]:
    """Free slots of `service` starting in the window, across its clinicians or one of them."""
    schedules = _schedules(session, service, clinician_id)
    calendars = _calendars(session, schedules, window_start, window_end, exclude_consultation)
    return available_slots(rules_for(service), calendars, window_start, window_end, now)


def is_free(
    session: Session,
    service: Service,
    start: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
) -> bool:
    """Whether a consultation of `service` may start at `start` (with that clinician, or anyone)."""
    window_end = start + timedelta(seconds=1)
    slots = find_slots(session, service, start, window_end, now, clinician_id, exclude_consultation)
    return any(slot.start == start for slot in slots)


def load_calendars(
    session: Session,
    clinicians: list[Clinician],
    window_start: datetime,
    window_end: datetime,
    exclude_consultation: int | None = None,
) -> list[ClinicianCalendar]:
    """The engine's view of these clinicians over the window (see _calendars)."""
    schedules = [
        (c.id, c.time_zone, [_weekly_hours(rule) for rule in c.availability_rules]) for c in clinicians
    ]
    return _calendars(session, schedules, window_start, window_end, exclude_consultation)


def _calendars(
    session: Session,
    schedules: list[_Schedule],
    window_start: datetime,
    window_end: datetime,
    exclude_consultation: int | None = None,
) -> list[ClinicianCalendar]:
    """One query for busy time and one for time off and closures, over the window widened by a day each side.

    Both hand back Unix seconds, which the engine computes in: no datetime per row.
    """
    ids = [clinician_id for clinician_id, _, _ in schedules]
    if not ids:
        return []
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    busy_query = select(
        Consultation.clinician_id,
        unix_seconds(Consultation.blocked_from),
        unix_seconds(Consultation.blocked_until),
    ).where(
        Consultation.clinician_id.in_(ids),
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= lo - MAX_BLOCK,
        Consultation.blocked_from < hi,
        Consultation.blocked_until > lo,
    )
    if exclude_consultation is not None:
        busy_query = busy_query.where(Consultation.id != exclude_consultation)
    busy = defaultdict(list)
    for clinician_id, start, end in session.execute(busy_query):
        busy[clinician_id].append((start, end))
    time_off = _time_off(session, ids, lo, hi)
    return [
        ClinicianCalendar(
            clinician_id, time_zone, hours, time_off=time_off[clinician_id], busy=busy[clinician_id]
        )
        for clinician_id, time_zone, hours in schedules
    ]


def _time_off(
    session: Session, ids: list[int], lo: datetime, hi: datetime
) -> defaultdict[int, list[tuple[int, int]]]:
    """Each clinician's time off and closures meeting [lo, hi), in Unix seconds, in one query."""
    off_query = select(
        TimeOff.clinician_id, unix_seconds(TimeOff.starts_at), unix_seconds(TimeOff.ends_at)
    ).where(TimeOff.clinician_id.in_(ids), TimeOff.starts_at < hi, TimeOff.ends_at > lo)
    # A closure is time off for every clinician of its department (of every department when it has none).
    closed_query = (
        select(Clinician.id, unix_seconds(Closure.starts_at), unix_seconds(Closure.ends_at))
        .join(Closure, or_(Closure.department_id.is_(None), Closure.department_id == Clinician.department_id))
        .where(Clinician.id.in_(ids), Closure.starts_at < hi, Closure.ends_at > lo)
    )
    time_off = defaultdict(list)
    for clinician_id, start, end in session.execute(union_all(off_query, closed_query)):
        time_off[clinician_id].append((start, end))
    return time_off


def offered_time(
    session: Session, clinician_ids: list[int], window_start: datetime, window_end: datetime
) -> dict[int, list[tuple[int, int]]]:
    """The time each active clinician of `clinician_ids` offers in the window (weekly hours less time off
    and closures, bookings ignored) as intervals of Unix seconds; inactive clinicians offer none."""
    schedules = _schedule_rows(
        session, lambda query: query.where(Clinician.id.in_(clinician_ids), Clinician.active.is_(True))
    )
    time_off = _time_off(
        session, [clinician_id for clinician_id, _, _ in schedules], window_start, window_end
    )
    lower, upper = int(window_start.timestamp()), int(window_end.timestamp())
    return {
        clinician_id: open_time(
            ClinicianCalendar(clinician_id, time_zone, hours, time_off[clinician_id]), lower, upper
        )
        for clinician_id, time_zone, hours in schedules
    }


def _weekly_hours(rule: AvailabilityRule) -> WeeklyHours:
    return WeeklyHours(rule.weekday, rule.start_time, rule.end_time, rule.valid_from, rule.valid_until)
