"""Loading what the slot engine needs from the database, and asking it for free times."""

import enum
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import NamedTuple

from sqlalchemy import BindParameter, ColumnElement, ScalarSelect, Select, bindparam, null, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session, joinedload
from sqlalchemy.sql.functions import FunctionElement, aggregate_strings

from ..audit import Actor
from ..models import (
    AvailabilityRule,
    Clinician,
    Closure,
    Consultation,
    ConsultationStatus,
    Department,
    Service,
    TimeOff,
    clinician_service,
)
from ..models.base import unix_seconds
from ..models.driver import Statement, driver_batch, driver_rows
from .errors import NotFound
from .slots import (
    ClinicianCalendar,
    Slot,
    SlotRules,
    WeeklyHours,
    available_slots,
    available_starts,
    open_time,
)

# A span of stored time, start and end in whole Unix seconds.
Span = tuple[int, int]

# No consultation with its buffers lasts longer than this, so a window query can bound its
# index range scan from below: cost follows the window, not the length of the history.
MAX_BLOCK = timedelta(days=1)


class stored_span(FunctionElement):
    """A span of two instant columns as one text, 'start/end', as the driver builds it cheapest; `_SpansOf`
    reads it.

    PostgreSQL: whole Unix seconds (truncated), so no datetime is built per row. SQLite: the stored UTC
    texts themselves, converted in Python once per distinct span (bookings share a grid of times), which
    is cheaper than per-row date arithmetic in SQL.
    """

    name = "stored_span"
    inherit_cache = True


@compiles(stored_span, "sqlite")
def _stored_span_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(column, **kw) for column in element.clauses)
    return f"{start} || '/' || {end}"


@compiles(stored_span, "postgresql")
def _stored_span_postgresql(element, compiler, **kw) -> str:
    start, end = (compiler.process(unix_seconds(column), **kw) for column in element.clauses)
    return f"{start} || '/' || {end}"


class stored_hours(FunctionElement):
    """An availability rule as one text, 'weekday|start|end|valid_from|valid_until' (ISO, '' for none)."""

    name = "stored_hours"
    inherit_cache = True


@compiles(stored_hours, "sqlite")
def _stored_hours_sqlite(element, compiler, **kw) -> str:
    weekday, start, end, valid_from, valid_until = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"{weekday} || '|' || {start} || '|' || {end} || '|' || coalesce({valid_from}, '') || '|' || "
        f"coalesce({valid_until}, '')"
    )


@compiles(stored_hours, "postgresql")
def _stored_hours_postgresql(element, compiler, **kw) -> str:
    weekday, start, end, valid_from, valid_until = (compiler.process(c, **kw) for c in element.clauses)
    day = "'YYYY-MM-DD'"  # whatever the server's DateStyle
    return (
        f"{weekday} || '|' || {start} || '|' || {end} || '|' || coalesce(to_char({valid_from}, {day}), '')"
        f" || '|' || coalesce(to_char({valid_until}, {day}), '')"
    )


class _SpansOf(dict):
    """stored_span text -> (start, end) in whole Unix seconds, each distinct one converted (and kept) once."""

    def __missing__(self, text: str) -> tuple[int, int]:
        start, end = text.split("/")
        span = self[text] = (_unix_seconds(start), _unix_seconds(end))
        return span


@lru_cache(maxsize=16384)
def _unix_seconds(stored: str) -> int:
    if stored.isdigit() or stored.startswith("-"):
        return int(stored)
    # SQLite's text is 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC; the fraction is cut off, as on PostgreSQL.
    return int(datetime.fromisoformat(stored[:19]).replace(tzinfo=UTC).timestamp())


class _HoursOf(dict):
    """Aggregated stored_hours text -> the weekly hours it lists, each distinct text parsed (and kept) once:
    clinicians mostly keep the same hours."""

    def __missing__(self, text: str | None) -> list[WeeklyHours]:
        hours = self[text] = [_weekly_hours_of(rule) for rule in text.split(",")] if text else []
        return hours


def _weekly_hours_of(text: str) -> WeeklyHours:
    weekday, start, end, valid_from, valid_until = text.split("|")
    return WeeklyHours(
        int(weekday),
        time.fromisoformat(start),
        time.fromisoformat(end),
        date.fromisoformat(valid_from) if valid_from else None,
        date.fromisoformat(valid_until) if valid_until else None,
    )


@dataclass(frozen=True)
class DepartmentSummary:
    """A department read as plain columns, as pages name it: an OfferedService's, a clinician's own
    schedule's (agenda.schedule_scope)."""

    id: int
    name: str
    contact_phone: str


# The columns a DepartmentSummary is read from, in its order.
DEPARTMENT_SUMMARY = [getattr(Department, field.name) for field in fields(DepartmentSummary)]


@dataclass(frozen=True)
class OfferedService:
    """An offered service as the slot engine and the patient's booking steps see it: its booking rules and
    what the pages show of it and its department, named as on `Service`.

    Read as plain columns (see `offered_service`) by callers that change nothing of the service, without
    loading it and its department as ORM entities.
    """

    id: int
    name: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    slot_interval_minutes: int
    min_notice_minutes: int
    horizon_days: int
    cancel_cutoff_minutes: int
    department: DepartmentSummary


class Booker(enum.Enum):
    """Who books or moves a consultation, which decides the notice it needs: see `notice_minutes`."""

    PATIENT = "patient"  # themselves, online or through the API
    STAFF = "staff"  # on the patient's behalf: on the phone, at the desk, filling a sick colleague's day

    @classmethod
    def of(cls, actor: Actor) -> "Booker":
        """Who books, as the audit trail names them: staff, or anyone else, held to the patient's rule."""
        return cls.STAFF if actor.is_staff else cls.PATIENT


def notice_minutes(service: Service | OfferedService, booker: Booker) -> int:
    """How far ahead of its start a time may be booked or moved to: a patient by the service's minimum
    notice (the clinic's time to prepare for a stranger), staff up to its start, since they arrange it."""
    return service.min_notice_minutes if booker is Booker.PATIENT else 0


def rules_for(service: Service | OfferedService, booker: Booker = Booker.PATIENT) -> SlotRules:
    return SlotRules(
        duration=service.duration_minutes,
        buffer_before=service.buffer_before_minutes,
        buffer_after=service.buffer_after_minutes,
        interval=service.slot_interval_minutes,
        min_notice=notice_minutes(service, booker),
        horizon_days=service.horizon_days,
    )


def reach(rules: SlotRules, window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    """The stored time that may stand in the way of a consultation starting in the window: what meets
    it widened by the service's buffers before, and by its length and buffer after."""
    return (
        window_start - timedelta(minutes=rules.buffer_before),
        window_end + timedelta(minutes=rules.duration + rules.buffer_after),
    )


def active_service(session: Session, service_id: int) -> Service:
    """The service, with its department, if both are active; else NotFound."""
    service = (
        session.execute(_SERVICE, {"id": service_id}).scalar_one_or_none()
        if isinstance(service_id, int)
        else None
    )
    if service is None or not service.active or not service.department.active:
        raise _not_offered()
    return service


# The department in the same round trip: a booking checks it every time. Built once: `session.get`
# builds its statement anew on each call, which costs a booking a third of this lookup's CPU.
_SERVICE = select(Service).options(joinedload(Service.department)).where(Service.id == bindparam("id"))


def offered_service(session: Session, service_id: int) -> OfferedService:
    """What `active_service` answers, as an OfferedService: the same check, made each time it is asked
    (an admin's change shows at once), for half the CPU of loading the two entities, and with less of
    SQLAlchemy's code run: a page served by a worker that idled meanwhile pays for each part it touches."""
    return offered_from(driver_rows(session, *offered_lookup(service_id)))


def offered_lookup(service_id: int) -> Statement:
    """`offered_service`'s query, for a caller that sends it with others (`driver_batch`); its rows go to
    `offered_from`."""
    return _OFFERED, {"id": service_id if isinstance(service_id, int) else 0}  # ids start at 1: 0 is none


def offered_from(rows: list[tuple]) -> OfferedService:
    """The service `offered_lookup` found, or NotFound."""
    if not rows:
        raise _not_offered()
    service, department = rows[0][: len(_SERVICE_COLUMNS)], rows[0][len(_SERVICE_COLUMNS) :]
    return OfferedService(*service, department=DepartmentSummary(*department))


_SERVICE_COLUMNS = [getattr(Service, f.name) for f in fields(OfferedService) if f.name != "department"]
# The active flags in the WHERE clause: a service withdrawn, or of a closed department, is no row.
_OFFERED = (
    select(*_SERVICE_COLUMNS, *DEPARTMENT_SUMMARY)
    .join(Department, Department.id == Service.department_id)
    .where(Service.id == bindparam("id"), Service.active.is_(True), Department.active.is_(True))
)


def _not_offered() -> NotFound:
    return NotFound("No such service is offered.", field="service")


def service_clinicians(
    session: Session, service: Service | OfferedService, clinician_id: int | None = None
) -> list[Clinician]:
    """The active clinicians offering `service` (just one when `clinician_id` is given), without their
    weekly hours: the slot search reads those inside its own statement (`_calendars`)."""
    if clinician_id is None:
        return list(session.scalars(_SERVICE_CLINICIANS, {"service_id": service.id}))
    parameters = {"service_id": service.id, "clinician_id": clinician_id}
    clinicians = list(session.scalars(_SERVICE_CLINICIAN, parameters))
    if not clinicians:
        raise NotFound("That clinician does not offer this service.", field="clinician")
    return clinicians


def find_slots(
    session: Session,
    service: Service | OfferedService,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    booker: Booker = Booker.PATIENT,
) -> list[Slot]:
    """Free slots of `service` starting in the window, across its clinicians or one of them, that
    `booker` may book."""
    rules = rules_for(service, booker)
    calendars = _service_calendars(
        session, service.id, rules, window_start, window_end, clinician_id, exclude_consultation
    )
    return available_slots(rules, calendars, window_start, window_end, now)


def find_starts(
    session: Session,
    service: Service | OfferedService,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    first: Sequence[Statement] = (),
    booker: Booker = Booker.PATIENT,
) -> list[datetime]:
    """The distinct starts of `find_slots`, sorted: the times to choose from, whoever is free at each.
    `first`: as for `is_free`."""
    rules = rules_for(service, booker)
    calendars = _service_calendars(
        session, service.id, rules, window_start, window_end, clinician_id, exclude_consultation, first
    )
    return available_starts(rules, calendars, window_start, window_end, now)


def _service_calendars(
    session: Session,
    service_id: int,
    rules: SlotRules,
    window_start: datetime,
    window_end: datetime,
    clinician_id: int | None,
    exclude_consultation: int | None,
    first: Sequence[Statement] = (),
) -> list[ClinicianCalendar]:
    """The calendars of the clinicians offering the service (just one when `clinician_id` is given),
    with only what may stand in the way of a consultation starting in the window: blocked time that
    meets it with the service's buffers, time off and closures that meet it with its length. A
    booking's one-second check so reads a booking or two per clinician, not three days of them."""
    lo, hi = reach(rules, window_start, window_end)
    if clinician_id is None:
        clinicians = _Clinicians(_of_service, {"service_id": service_id})
    else:
        clinicians = _Clinicians(
            _of_service_clinician, {"service_id": service_id, "clinician_id": clinician_id}
        )
    calendars = _calendars(session, clinicians, lo, hi, exclude_consultation, first=first)
    if clinician_id is not None and not calendars:
        raise NotFound("That clinician does not offer this service.", field="clinician")
    return calendars


def free_clinician_ids(
    session: Session,
    service: Service | OfferedService,
    start: datetime,
    now: datetime,
    exclude_consultation: int | None = None,
    booker: Booker = Booker.PATIENT,
) -> list[int]:
    """Ids of the clinicians of `service` free for it at `start`, for `booker`, in id order (the order their
    locks are taken in, so two who take several cannot deadlock)."""
    window = (start, start + timedelta(seconds=1))
    slots = find_slots(
        session, service, *window, now, exclude_consultation=exclude_consultation, booker=booker
    )
    return sorted({slot.clinician_id for slot in slots if slot.start == start})


def is_free(
    session: Session,
    service: Service | OfferedService,
    start: datetime,
    now: datetime,
    clinician_id: int | None = None,
    exclude_consultation: int | None = None,
    first: Sequence[Statement] = (),
    booker: Booker = Booker.PATIENT,
) -> bool:
    """Whether `booker` may start a consultation of `service` at `start` (with that clinician, or anyone).

    `first`: statements sent ahead of the read, in its round trip (see `driver_batch`), such as the
    clinician's lock: the read then sees what the lock's previous holder committed.
    """
    window_end = start + timedelta(seconds=1)
    starts = find_starts(
        session, service, start, window_end, now, clinician_id, exclude_consultation, first, booker
    )
    return start in starts


def load_calendars(
    session: Session,
    clinicians: list[Clinician],
    window_start: datetime,
    window_end: datetime,
    exclude_consultation: int | None = None,
) -> list[ClinicianCalendar]:
    """The engine's view of these clinicians over the window widened by a day each side (see _calendars),
    in id order."""
    listed = _Clinicians(_listed, {"ids": [clinician.id for clinician in clinicians]})
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    return _calendars(session, listed, lo, hi, exclude_consultation)


def _of_service(query: Select) -> Select:
    """`query` narrowed to the active clinicians offering the service `service_id`.

    An explicit join: `Clinician.services.contains(service)` builds the same SQL at ten times the cost.
    """
    return query.join(clinician_service, clinician_service.c.clinician_id == Clinician.id).where(
        clinician_service.c.service_id == bindparam("service_id"), Clinician.active.is_(True)
    )


def _of_service_clinician(query: Select) -> Select:
    return _of_service(query).where(Clinician.id == bindparam("clinician_id"))


# Built once, every value a bound parameter. Built on each call, the statement and its cache key made a
# named clinician's lookup cost 380 µs of CPU in one process, against 212 µs so.
_SERVICE_CLINICIANS = _of_service(select(Clinician).order_by(Clinician.id))
_SERVICE_CLINICIAN = _of_service_clinician(select(Clinician))


def _listed(query: Select) -> Select:
    return query.where(Clinician.id.in_(bindparam("ids", expanding=True)))


def _one(query: Select) -> Select:
    return query.where(Clinician.id == bindparam("id"))


def _listed_active(query: Select) -> Select:
    return _listed(query).where(Clinician.active.is_(True))


class _Clinicians(NamedTuple):
    """Which clinicians a calendar query reads: a module-level narrowing (one of those above, so the
    statement is built once per shape) and the values of its bound parameters."""

    narrow: Callable[[Select], Select]
    parameters: dict


def _calendars(
    session: Session,
    clinicians: _Clinicians,
    lo: datetime,
    hi: datetime,
    exclude_consultation: int | None = None,
    with_bookings: bool = True,
    first: Sequence[Statement] = (),
) -> list[ClinicianCalendar]:
    """The calendars of `clinicians`, in id order: zone and weekly hours, and the busy time (unless not
    `with_bookings`), time off and closures that meet [lo, hi); `first` sent ahead (see `is_free`).

    One query, one row per clinician: each kind of span is aggregated into one text, which Python splits
    and maps through caches of distinct values, so no row, tuple or datetime is built per booking.
    """
    return [
        ClinicianCalendar(clinician_id, time_zone, hours, time_off=off + closed, busy=busy)
        for clinician_id, time_zone, hours, busy, off, closed in _calendar_rows(
            session, clinicians, lo, hi, exclude_consultation, with_bookings, first
        )
    ]


def _calendar_rows(
    session: Session,
    clinicians: _Clinicians,
    lo: datetime,
    hi: datetime,
    exclude_consultation: int | None,
    with_bookings: bool,
    first: Sequence[Statement],
) -> list[tuple[int, str, list[WeeklyHours], list[Span], list[Span], list[Span]]]:
    """Each clinician's id, zone, weekly hours, busy time, time off and closures, as `_calendars` reads
    them."""
    query = _calendar_query(clinicians.narrow, with_bookings, exclude_consultation is not None)
    bounds = {"lowest": lo - MAX_BLOCK, "lo": lo, "hi": hi, **clinicians.parameters}
    if exclude_consultation is not None:
        bounds["excluded"] = exclude_consultation
    hours_of, spans_of = _HoursOf(), _SpansOf()
    return [
        (
            clinician_id,
            time_zone,
            hours_of[rules],
            _spans(spans_of, busy_spans),
            _spans(spans_of, off_spans),
            _spans(spans_of, closed_spans),
        )
        for clinician_id, time_zone, rules, busy_spans, off_spans, closed_spans in driver_batch(
            session, *first, (query, bounds)
        )[-1]
    ]


@cache
def _calendar_query(narrow: Callable[[Select], Select], with_bookings: bool, excluding: bool) -> Select:
    """_calendars' query, built once per shape: all its values are bound parameters. SQLAlchemy keeps
    a statement's cache key on it, so a search spends no time building or walking the statement."""
    lo, hi = bindparam("lo"), bindparam("hi")
    query = select(
        Clinician.id,
        Clinician.time_zone,
        _hours_text(),
        _busy_text(lo, hi, excluding) if with_bookings else null(),
        _spans_text(TimeOff.starts_at, TimeOff.ends_at, lo, hi, TimeOff.clinician_id == Clinician.id),
        # A closure is time off for every clinician of its department (of every one when it has none).
        _spans_text(
            Closure.starts_at,
            Closure.ends_at,
            lo,
            hi,
            or_(Closure.department_id.is_(None), Closure.department_id == Clinician.department_id),
        ),
    ).order_by(Clinician.id)
    return narrow(query)


def _hours_text() -> ScalarSelect:
    rule = stored_hours(
        AvailabilityRule.weekday,
        AvailabilityRule.start_time,
        AvailabilityRule.end_time,
        AvailabilityRule.valid_from,
        AvailabilityRule.valid_until,
    )
    query = select(aggregate_strings(rule, ",")).where(AvailabilityRule.clinician_id == Clinician.id)
    return query.scalar_subquery()


def _busy_text(lo: BindParameter, hi: BindParameter, excluding: bool) -> ScalarSelect:
    query = select(
        aggregate_strings(stored_span(Consultation.blocked_from, Consultation.blocked_until), ",")
    ).where(
        Consultation.clinician_id == Clinician.id,
        Consultation.status != ConsultationStatus.CANCELLED,
        Consultation.blocked_from >= bindparam("lowest"),
        Consultation.blocked_from < hi,
        Consultation.blocked_until > lo,
    )
    if excluding:
        query = query.where(Consultation.id != bindparam("excluded"))
    return query.scalar_subquery()


def _spans_text(
    starts_at: InstrumentedAttribute[datetime],
    ends_at: InstrumentedAttribute[datetime],
    lo: BindParameter,
    hi: BindParameter,
    whose: ColumnElement[bool],
) -> ScalarSelect:
    query = select(aggregate_strings(stored_span(starts_at, ends_at), ",")).where(
        whose, starts_at < hi, ends_at > lo
    )
    return query.scalar_subquery()


def _spans(spans_of: _SpansOf, text: str | None) -> list[Span]:
    return list(map(spans_of.__getitem__, text.split(","))) if text else []


class Absences(NamedTuple):
    """A clinician's weekly hours and own time off (a calendar without bookings), and apart from them the
    clinic's closures that cover the clinician: what tells a consultation's clash (scheduling.clashes)."""

    calendar: ClinicianCalendar
    closed: list[Span]


def absences(
    session: Session, clinician_ids: Collection[int], window_start: datetime, window_end: datetime
) -> dict[int, Absences]:
    """The Absences of each of these clinicians, by id, with the time off and closures meeting the window."""
    if len(clinician_ids) == 1:  # a clinician's own pages: on the driver's path, which an IN list is not
        (clinician_id,) = clinician_ids
        listed = _Clinicians(_one, {"id": clinician_id})
    else:
        listed = _Clinicians(_listed, {"ids": list(clinician_ids)})
    rows = _calendar_rows(session, listed, window_start, window_end, None, False, ())
    return {
        clinician_id: Absences(ClinicianCalendar(clinician_id, time_zone, hours, time_off=off), closed)
        for clinician_id, time_zone, hours, _, off, closed in rows
    }


def offered_time(
    session: Session, clinician_ids: list[int], window_start: datetime, window_end: datetime
) -> dict[int, list[tuple[int, int]]]:
    """The time each active clinician of `clinician_ids` offers in the window (weekly hours less time off
    and closures, bookings ignored) as intervals of Unix seconds; inactive clinicians offer none."""
    listed = _Clinicians(_listed_active, {"ids": list(clinician_ids)})
    lo, hi = window_start - MAX_BLOCK, window_end + MAX_BLOCK
    calendars = _calendars(session, listed, lo, hi, with_bookings=False)
    lower, upper = int(window_start.timestamp()), int(window_end.timestamp())
    return {calendar.clinician_id: open_time(calendar, lower, upper) for calendar in calendars}
