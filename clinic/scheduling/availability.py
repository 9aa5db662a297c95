"""Loading what the slot engine needs from the database, and asking it for free times."""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, literal_column, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload, selectinload
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


class stored_instant(FunctionElement):
    """An instant column as the driver hands it over cheapest, for `_SecondsOf` to read.

    PostgreSQL: whole Unix seconds (truncated), so psycopg builds no datetime per row. SQLite: the
    stored UTC text itself, converted in Python once per distinct value (bookings share a grid of
    times), which is cheaper than per-row date arithmetic in SQL.
    """

    name = "stored_instant"
    inherit_cache = True


@compiles(stored_instant, "sqlite")
def _stored_instant_sqlite(element, compiler, **kw) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(stored_instant, "postgresql")
def _stored_instant_postgresql(element, compiler, **kw) -> str:
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


class _SecondsOf(dict):
    """stored_instant value -> whole Unix seconds, each distinct value converted (and kept) once."""

    def __missing__(self, value: int | str) -> int:
        # SQLite's text is 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; the fraction is cut off, as on PostgreSQL.
        seconds = value if isinstance(value, int) else int(_utc_text(value[:19]).timestamp())
        self[value] = seconds
        return seconds


def _utc_text(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
    # The department in the same round trip: a booking checks it every time.
    service = (
        session.get(Service, service_id, options=[joinedload(Service.department)])
        if isinstance(service_id, int)
        else None
    )
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
    with _driver_rows(session, narrow(query)) as rows:
        for row in rows:
            hours = schedules.setdefault(row[0], (row[0], row[1], []))[2]
            if row[2] is not None:
                rule = row[2:]
                hours.append(shared.get(rule) or shared.setdefault(rule, _stored_hours(*rule)))
    return list(schedules.values())


def _stored_hours(
    weekday: int,
    start: time | str,
    end: time | str,
    valid_from: date | str | None,
    valid_until: date | str | None,
) -> WeeklyHours:
    """A rule from its stored values: parsed already on PostgreSQL, ISO text on SQLite."""
    return WeeklyHours(
        weekday,
        _stored(time, start),
        _stored(time, end),
        _stored(date, valid_from),
        _stored(date, valid_until),
    )


def _stored(kind: type[time] | type[date], value: time | date | str | None) -> time | date | None:
    return kind.fromisoformat(value) if isinstance(value, str) else value


@contextmanager
def _driver_rows(session: Session, query: Select) -> Iterator[Iterable[tuple]]:
    """The rows of `query` straight off the DB-API cursor, as the driver hands them over.

    SQLAlchemy still compiles the statement and binds its parameters; it only builds no Row objects
    and converts no values, which costs more than the query itself for thousands of rows.
    """
    result = session.connection().execute(query)
    try:
        yield result.cursor
    finally:
        result.close()


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
    with_bookings: bool = True,
) -> list[ClinicianCalendar]:
    """Busy time (unless not `with_bookings`), time off and closures over the window widened by a day
    each side, in one query.

    Instants arrive as stored and become Unix seconds, which the engine computes in: no datetime per row.
    """
    ids = [clinician_id for clinician_id, _, _ in schedules]
    if not ids:
        return []
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    busy_query = select(
        literal_column("1"),
        Consultation.clinician_id,
        stored_instant(Consultation.blocked_from),
        stored_instant(Consultation.blocked_until),
    ).where(
        Consultation.clinician_id.in_(ids),
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= lo - MAX_BLOCK,
        Consultation.blocked_from < hi,
        Consultation.blocked_until > lo,
    )
    if exclude_consultation is not None:
        busy_query = busy_query.where(Consultation.id != exclude_consultation)
    off_query = select(
        literal_column("0"),
        TimeOff.clinician_id,
        stored_instant(TimeOff.starts_at),
        stored_instant(TimeOff.ends_at),
    ).where(TimeOff.clinician_id.in_(ids), TimeOff.starts_at < hi, TimeOff.ends_at > lo)
    # A closure is time off for every clinician of its department (of every department when it has none).
    closed_query = (
        select(
            literal_column("0"),
            Clinician.id,
            stored_instant(Closure.starts_at),
            stored_instant(Closure.ends_at),
        )
        .join(Closure, or_(Closure.department_id.is_(None), Closure.department_id == Clinician.department_id))
        .where(Clinician.id.in_(ids), Closure.starts_at < hi, Closure.ends_at > lo)
    )
    time_off: dict[int, list[tuple[int, int]]] = defaultdict(list)
    busy: dict[int, list[tuple[int, int]]] = defaultdict(list)
    by_kind = (time_off, busy)  # indexed by the first column
    seconds = _SecondsOf()
    blocked = (busy_query, off_query, closed_query) if with_bookings else (off_query, closed_query)
    with _driver_rows(session, union_all(*blocked)) as rows:
        for kind, clinician_id, start, end in rows:
            by_kind[kind][clinician_id].append((seconds[start], seconds[end]))
    return [
        ClinicianCalendar(
            clinician_id, time_zone, hours, time_off=time_off[clinician_id], busy=busy[clinician_id]
        )
        for clinician_id, time_zone, hours in schedules
    ]


def offered_time(
    session: Session, clinician_ids: list[int], window_start: datetime, window_end: datetime
) -> dict[int, list[tuple[int, int]]]:
    """The time each active clinician of `clinician_ids` offers in the window (weekly hours less time off
    and closures, bookings ignored) as intervals of Unix seconds; inactive clinicians offer none."""
    schedules = _schedule_rows(
        session, lambda query: query.where(Clinician.id.in_(clinician_ids), Clinician.active.is_(True))
    )
    calendars = _calendars(session, schedules, window_start, window_end, with_bookings=False)
    lower, upper = int(window_start.timestamp()), int(window_end.timestamp())
    return {calendar.clinician_id: open_time(calendar, lower, upper) for calendar in calendars}


def _weekly_hours(rule: AvailabilityRule) -> WeeklyHours:
    return WeeklyHours(rule.weekday, rule.start_time, rule.end_time, rule.valid_from, rule.valid_until)
