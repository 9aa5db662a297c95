"""What staff see of consultations: whose they may see, a day's and a week's list, one consultation.

A clinician sees their own consultations, reception their department's, an admin any department's.
Anything else is NotFound, the same as a consultation that does not exist, so ids reveal nothing.
"""

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from ..models import (
    Clinician,
    Companion,
    CompanionRole,
    Consultation,
    ConsultationStatus,
    Department,
    EntryStatus,
    Patient,
    Service,
    StaffRole,
    WalkInEntry,
    walk_in_duty,
)
from ..models.driver import driver_rows
from ..staff.members import StaffMember
from .calendars import MAX_BLOCK
from .clashes import Clash, clashes_of
from .errors import NotFound
from .offered import DEPARTMENT_SUMMARY, DepartmentSummary
from .patients import age_on
from .status import allowed_next
from .timezones import day_bounds
from .waiting_room import JoinWindow, in_time_for

S = ConsultationStatus
# Only the clinician who holds the call starts and finishes it; anyone who sees it may do the rest.
CLINICIANS_OWN = frozenset({S.IN_PROGRESS, S.FULFILLED})
# Later than any booking: the end of a listing of every consultation still to come; and earlier than any.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_START_OF_TIME = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Moment:
    """The moment a page is drawn at, and the join window that times are judged by."""

    instant: datetime
    window: JoinWindow


@dataclass(frozen=True)
class OwnClinician:
    """A clinician looking at their own schedule, as its pages name them (see `schedule_scope`)."""

    id: int
    display_name: str
    time_zone: str


@dataclass(frozen=True)
class Scope:
    """Whose consultations a schedule lists: one clinician's, or a department's (optionally narrowed).

    A clinician's own schedule names them and their department by plain columns (OwnClinician,
    DepartmentSummary); reception's and admins' are entities, whose department lists its clinicians."""

    department: Department | DepartmentSummary | None
    clinician: Clinician | OwnClinician | None

    @property
    def zone_name(self) -> str | None:
        """A clinician's schedule is in their zone; a department's in the hospital's (None)."""
        return self.clinician.time_zone if self.clinician else None

    def is_own(self, viewer: StaffMember) -> bool:
        """Whether this is `viewer`'s own schedule: they are its clinician."""
        return self.clinician is not None and self.clinician.id == viewer.clinician_id


# A clinician's own schedule, looked up on each of their pages and each poll of its statuses: built once,
# as session.get would build it (and its cache key) on every call, and run on the driver's path.
_OWN_CLINICIAN = [getattr(Clinician, field.name) for field in fields(OwnClinician)]
_OWN_SCHEDULE = (
    select(*_OWN_CLINICIAN, *DEPARTMENT_SUMMARY)
    .join(Department, Department.id == Clinician.department_id)
    .where(Clinician.id == bindparam("id"))
)


def schedule_scope(
    session: Session, viewer: StaffMember, department_id: int | None = None, clinician_id: int | None = None
) -> Scope:
    """The schedule `viewer` asked for, or NotFound if it is not theirs to see.

    A clinician always gets their own; reception their department (one clinician of it if asked);
    an admin the department asked for (the first one if none), or one clinician.
    """
    if viewer.is_clinician:
        own = driver_rows(session, _OWN_SCHEDULE, {"id": viewer.clinician_id}) if viewer.clinician_id else []
        if not own:
            raise NotFound("This sign-in is not linked to a clinician. Ask an admin to link it.")
        clinician, department = own[0][: len(_OWN_CLINICIAN)], own[0][len(_OWN_CLINICIAN) :]
        return Scope(DepartmentSummary(*department), OwnClinician(*clinician))
    if viewer.role is StaffRole.RECEPTION:
        if viewer.department_id is None:
            raise NotFound("This sign-in has no department. Ask an admin to set one.")
        department_id = viewer.department_id
    department = _department(session, department_id)
    clinician = None
    if clinician_id is not None:
        clinician = session.get(Clinician, clinician_id)
        if clinician is None or clinician.department_id != department.id:
            raise NotFound("No such clinician in this department.")
    return Scope(department, clinician)


def _department(session: Session, department_id: int | None) -> Department:
    if department_id is None:
        department = session.scalar(select(Department).order_by(Department.name).limit(1))
    else:
        department = session.get(Department, department_id)
    if department is None:
        raise NotFound("No such department.")
    return department


def departments(session: Session, viewer: StaffMember) -> list[Department]:
    """The departments whose schedules `viewer` may switch between (admins only have a choice)."""
    if viewer.role is not StaffRole.ADMIN:
        return []
    return list(session.scalars(select(Department).order_by(Department.name)))


# The columns a listing's consultations are narrowed by: whose they are, or their clinician's department.
_NARROWED_BY = {"clinician": Consultation.clinician_id, "department": Clinician.department_id}


def _seen_by(viewer: StaffMember) -> tuple[str | None, int]:
    """Which consultations `viewer` may see: the column of _NARROWED_BY and the value it must hold (none
    for an admin, who sees all)."""
    if viewer.is_clinician:
        return "clinician", viewer.clinician_id or -1
    if viewer.role is StaffRole.RECEPTION:
        return "department", viewer.department_id or -1
    return None, -1


def visible(viewer: StaffMember, *, with_called: bool = False) -> Select:
    """Consultations `viewer` may see, as a query to narrow further. `with_called` (one consultation, not
    a list): a clinician also sees the call of a walk-in caller still called from a queue they are on duty
    for, as whoever took the caller may have gone (see walkin.send_back)."""
    query = select(Consultation).join(Consultation.clinician)
    column, value = _seen_by(viewer)
    if column is None:
        return query
    seen = _NARROWED_BY[column] == value
    if with_called and column == "clinician":
        seen |= Consultation.id.in_(_called_on_duty(value))
    return query.where(seen)


def consultation_for_staff(session: Session, viewer: StaffMember, consultation_id: int) -> Consultation:
    """One consultation `viewer` may see (`visible` with the walk-in calls still called), its people loaded;
    NotFound otherwise."""
    query = visible(viewer, with_called=True).where(Consultation.id == consultation_id).options(*_LOADED)
    consultation = session.scalars(query).unique().one_or_none()
    if consultation is None:
        raise NotFound("No such consultation.")
    return consultation


def _called_on_duty(clinician_id: int) -> Select:
    """The calls of the callers still called (taken, or in the call) from the queues the clinician is on
    duty for."""
    return (
        select(WalkInEntry.consultation_id)
        .join(walk_in_duty, walk_in_duty.c.queue_id == WalkInEntry.queue_id)
        .where(
            walk_in_duty.c.clinician_id == clinician_id,
            WalkInEntry.status.in_((EntryStatus.TAKEN, EntryStatus.IN_CALL)),
        )
    )


class Listed(NamedTuple):
    """One consultation as the schedules list it: its times and status and its people's names, read as
    plain columns (a day of ORM entities, each with its patient, cost the page more than its query did);
    a tuple, as a frozen dataclass of its thirteen fields costs five times as much to make."""

    id: int
    status: ConsultationStatus
    starts_at: datetime
    ends_at: datetime
    arrived_at: datetime | None
    clinician_id: int
    clinician_name: str
    clinician_zone: str
    patient_name: str
    birth_date: date | None
    service_name: str
    companion_role: CompanionRole | None  # of the companion taking part now, if any
    needs_interpreter: bool  # a walk-in call whose caller asked for an interpreter

    @classmethod
    def of(cls, c: Consultation) -> "Listed":
        """The same of a consultation already loaded with its people."""
        companion = c.companion
        return cls(
            id=c.id,
            status=c.status,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            arrived_at=c.arrived_at,
            clinician_id=c.clinician_id,
            clinician_name=c.clinician.display_name,
            clinician_zone=c.clinician.time_zone,
            patient_name=c.patient.name,
            birth_date=c.patient.birth_date,
            service_name=c.service.name,
            companion_role=companion.role if companion else None,
            needs_interpreter=c.walk_in_entry is not None and c.walk_in_entry.needs_interpreter,
        )


# Listed's fields in order; the companion as Consultation.companion finds it (the first not removed).
_LISTED_COLUMNS = (
    Consultation.id,
    Consultation.status,
    Consultation.starts_at,
    Consultation.ends_at,
    Consultation.arrived_at,
    Consultation.clinician_id,
    Clinician.display_name,
    Clinician.time_zone,
    Patient.name,
    Patient.birth_date,
    Service.name,
    select(Companion.role)
    .where(Companion.consultation_id == Consultation.id, Companion.removed_at.is_(None))
    .order_by(Companion.id)
    .limit(1)
    .scalar_subquery(),
    # As Consultation.walk_in_entry finds the caller: by their entry's call.
    select(WalkInEntry.id)
    .where(WalkInEntry.consultation_id == Consultation.id, WalkInEntry.needs_interpreter.is_(True))
    .exists(),
)


class Row(NamedTuple):
    """One consultation on a schedule, with what the viewer may do with it (a tuple, as Listed is)."""

    consultation: Listed
    age: int | None  # None for a walk-in caller, whose date of birth is not asked
    actions: frozenset[ConsultationStatus]
    own: bool  # the viewer is its clinician: they hold the call and see the reason for the visit
    may_start: bool  # the viewer holds the call and it may still be started or rejoined
    clash: Clash | None = None  # why it cannot go ahead as booked: staff must move or cancel it

    @property
    def waiting(self) -> bool:
        return self.consultation.status is S.ARRIVED


@dataclass(frozen=True)
class DayAgenda:
    day: date
    zone: ZoneInfo
    rows: list[Row]

    @property
    def waiting(self) -> list[Row]:
        return [row for row in self.rows if row.waiting]

    @property
    def next_up(self) -> Row | None:
        """The first consultation still to be seen: who is next."""
        return next((row for row in self.rows if row.consultation.status in (S.BOOKED, S.ARRIVED)), None)


def day_agenda(
    session: Session, viewer: StaffMember, scope: Scope, day: date, tz: ZoneInfo, moment: Moment
) -> DayAgenda:
    """The consultations of `scope` starting on `day` in `tz`, in time order, cancelled ones included."""
    start, end = day_bounds(day, tz)
    found = _between(session, viewer, scope, start, end)
    return DayAgenda(day, tz, _rows(session, viewer, found, tz, moment))


def week_agenda(
    session: Session, viewer: StaffMember, scope: Scope, day: date, tz: ZoneInfo, moment: Moment
) -> list[DayAgenda]:
    """Monday to Sunday of the week holding `day`, one DayAgenda per day."""
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=n) for n in range(7)]
    start, end = day_bounds(days[0], tz)[0], day_bounds(days[-1], tz)[1]
    by_day: dict[date, list[Row]] = {d: [] for d in days}
    for row in _rows(session, viewer, _between(session, viewer, scope, start, end), tz, moment):
        by_day[row.consultation.starts_at.astimezone(tz).date()].append(row)
    return [DayAgenda(d, tz, rows) for d, rows in by_day.items()]


def stranded(session: Session, viewer: StaffMember, scope: Scope, tz: ZoneInfo, moment: Moment) -> list[Row]:
    """The consultations of `scope` still to come that cannot go ahead as booked (see scheduling.clashes),
    and those past that are still booked as their clinician was away, in time order: those staff must
    move or cancel."""
    since = moment.instant - MAX_BLOCK
    left_booked = _between(session, viewer, scope, _START_OF_TIME, since, booked_only=True)
    coming = _between(session, viewer, scope, since, _END_OF_TIME)
    return [row for row in _rows(session, viewer, left_booked + coming, tz, moment) if row.clash]


def consultation_row(
    session: Session, viewer: StaffMember, consultation: Consultation, day: date, moment: Moment
) -> Row:
    """`row_for` a consultation loaded with its people, its clash looked up."""
    listed = Listed.of(consultation)
    return row_for(viewer, listed, day, moment, clashes_of(session, [listed], moment.instant).get(listed.id))


def _rows(
    session: Session, viewer: StaffMember, found: list[Listed], tz: ZoneInfo, moment: Moment
) -> list[Row]:
    """`row_for` each consultation of `found` on its day in `tz`, the clashes among them looked up at once."""
    clashes = clashes_of(session, found, moment.instant)
    return [row_for(viewer, c, c.starts_at.astimezone(tz).date(), moment, clashes.get(c.id)) for c in found]


def row_for(
    viewer: StaffMember, consultation: Listed, day: date, moment: Moment, clash: Clash | None = None
) -> Row:
    """What `viewer` sees of one consultation on `day`, and the status changes open to them now; `clash`:
    why it cannot go ahead as booked, if it cannot."""
    own_call = viewer.is_clinician_of(consultation)
    actions = allowed_next(consultation.status) - {S.CANCELLED, S.IN_PROGRESS}
    if not own_call:
        actions -= CLINICIANS_OWN
    actions = frozenset(a for a in actions if in_time_for(a, consultation, moment.instant, moment.window))
    may_start = own_call and consultation.status in (S.BOOKED, S.ARRIVED, S.IN_PROGRESS)
    return Row(consultation, age_on(consultation.birth_date, day), actions, own_call, may_start, clash)


# What a consultation's own page shows of it; `visible` has joined the clinician already.
_LOADED = (
    contains_eager(Consultation.clinician),
    joinedload(Consultation.patient),
    joinedload(Consultation.service),
    joinedload(Consultation.companions),  # mostly none: a join costs less than a second query
)


def _between(
    session: Session,
    viewer: StaffMember,
    scope: Scope,
    start: datetime,
    end: datetime,
    *,
    booked_only: bool = False,
) -> list[Listed]:
    """The consultations `viewer` may see in `scope` starting in [start, end), in time order, or only
    those still booked. On the driver's path: every schedule page and each poll of the day page's
    changing parts runs it."""
    seen_by, seen = _seen_by(viewer)
    shown_by, shown = _shown_by(scope)
    query = _listing_query(seen_by, shown_by, booked_only)
    rows = driver_rows(session, query, {"start": start, "end": end, "seen": seen, "shown": shown})
    return [Listed(*row) for row in rows]


# What a listing reads of each consultation, and the people it joins for that.
_LISTING = (
    select(*_LISTED_COLUMNS)
    .join(Consultation.clinician)
    .join(Consultation.patient)
    .join(Consultation.service)
)


def _shown_by(scope: Scope) -> tuple[str | None, int]:
    """Whose consultations `scope` lists: the column of _NARROWED_BY and the value it must hold."""
    if scope.clinician is not None:
        return "clinician", scope.clinician.id
    if scope.department is not None:
        return "department", scope.department.id
    return None, -1


@cache
def _listing_query(seen_by: str | None, shown_by: str | None, booked_only: bool) -> Select:
    # Built once for each kind of viewer and scope, its values bound on execution: building the statement
    # and its cache key on every page cost more than reading the rows it returns.
    query = _LISTING.where(
        Consultation.starts_at >= bindparam("start"), Consultation.starts_at < bindparam("end")
    )
    if seen_by is not None:
        query = query.where(_NARROWED_BY[seen_by] == bindparam("seen"))
    if shown_by is not None:
        query = query.where(_NARROWED_BY[shown_by] == bindparam("shown"))
    if booked_only:
        query = query.where(Consultation.status == S.BOOKED)
    return query.order_by(Consultation.starts_at, Consultation.id)
