"""Whose consultations staff see: the schedule a page lists (a Scope), and the consultations a viewer may
see, one of them with its people.

A clinician sees their own consultations, reception their department's, an admin any department's. A
department's consultations are its clinicians' and its services' (`of_department`): reception book their
department's services with whoever offers them, a clinician of another department too, and manage their own
clinicians' days, whatever service a colleague elsewhere gave them. Anything else is NotFound, the same as
a consultation that does not exist, so ids reveal nothing.
"""

from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, Select, bindparam, or_, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from ..models import (
    Clinician,
    Consultation,
    Department,
    EntryStatus,
    Service,
    StaffRole,
    WalkInEntry,
    walk_in_duty,
)
from ..models.driver import driver_rows
from ..staff.members import StaffMember
from .errors import NotFound
from .offered import DEPARTMENT_SUMMARY, DepartmentSummary


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
    an admin the department asked for (if none, the clinician's asked for, else the first), or one clinician:
    one of another department is NotFound beside the clinician's field, as the admin may see them.
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
    clinician = None if clinician_id is None else session.get(Clinician, clinician_id)
    if department_id is None and clinician is not None:  # a link by the clinician alone (their time off)
        department_id = clinician.department_id
    department = _department(session, department_id)
    if clinician_id is not None and (clinician is None or clinician.department_id != department.id):
        if clinician is not None and viewer.role is StaffRole.ADMIN:  # the department switched, not them
            elsewhere = f"{clinician.display_name} is not in {department.name}: choose one of its clinicians."
            raise NotFound(elsewhere, field="clinician")
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


def of_department(department_id: ColumnElement[int] | int) -> ColumnElement[bool]:
    """Whether a consultation is the department's: its clinician's, or its service's (a query that has
    joined both). Two indexed columns, each compared once."""
    return or_(Clinician.department_id == department_id, Service.department_id == department_id)


def of_clinician(clinician_id: ColumnElement[int] | int) -> ColumnElement[bool]:
    """Whether a consultation is the clinician's."""
    return Consultation.clinician_id == clinician_id


# How a listing's consultations are narrowed, by the value given: whose they are, or which department's.
NARROWED_BY = {"clinician": of_clinician, "department": of_department}


def narrowed_for(viewer: StaffMember) -> tuple[str | None, int]:
    """Which consultations `viewer` may see: the narrowing of NARROWED_BY and the value it takes (none for
    an admin, who sees all)."""
    if viewer.is_clinician:
        return "clinician", viewer.clinician_id or -1
    if viewer.role is StaffRole.RECEPTION:
        return "department", viewer.department_id or -1
    return None, -1


def visible(viewer: StaffMember, *, with_called: bool = False) -> Select:
    """Consultations `viewer` may see, as a query to narrow further. `with_called` (one consultation, not
    a list): a clinician also sees the call of a walk-in caller still called from a queue they are on duty
    for, as whoever took the caller may have gone (see walkin.send_back)."""
    query = select(Consultation).join(Consultation.clinician).join(Consultation.service)
    column, value = narrowed_for(viewer)
    if column is None:
        return query
    seen = NARROWED_BY[column](value)
    if with_called and column == "clinician":
        seen |= Consultation.id.in_(_called_on_duty(value))
    return query.where(seen)


# What a consultation's own page shows of it; `visible` has joined the clinician and service already.
_LOADED = (
    contains_eager(Consultation.clinician),
    contains_eager(Consultation.service),
    joinedload(Consultation.patient),
    joinedload(Consultation.companions),  # mostly none: a join costs less than a second query
)


def consultation_for_staff(session: Session, viewer: StaffMember, consultation_id: int) -> Consultation:
    """One consultation `viewer` may see (`visible` with the walk-in calls still called), its people loaded;
    NotFound otherwise."""
    query = visible(viewer, with_called=True).where(Consultation.id == consultation_id).options(*_LOADED)
    consultation = session.scalars(query).unique().one_or_none()
    if consultation is None:
        raise NotFound("No such consultation.")
    return consultation


def sees(session: Session, viewer: StaffMember, consultation_id: int) -> bool:
    """Whether `viewer` may see the consultation (as `consultation_for_staff`): after a move to a clinician
    of another department, reception of the clinician's department no longer may."""
    query = visible(viewer, with_called=True).where(Consultation.id == consultation_id)
    return session.scalar(query.with_only_columns(Consultation.id)) is not None


def _called_on_duty(clinician_id: int) -> Select:
    """The calls of the callers still called (taken, or in the call) from the queues the clinician is on
    duty for."""
    return (
        select(WalkInEntry.consultation_id)
        .join(walk_in_duty, walk_in_duty.c.queue_id == WalkInEntry.queue_id)
        .join(Clinician, Clinician.id == walk_in_duty.c.clinician_id)
        .where(
            walk_in_duty.c.clinician_id == clinician_id,
            Clinician.active,  # a deactivated clinician is on no duty (walkin.duty)
            WalkInEntry.status.in_((EntryStatus.TAKEN, EntryStatus.IN_CALL)),
        )
    )
