"""A scope's consultations as the schedules list them: one read of plain columns (Listed) in a time range,
its statement built once for each kind of viewer and scope."""

from datetime import date, datetime
from functools import cache
from typing import NamedTuple

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from ..models import (
    Clinician,
    Companion,
    CompanionRole,
    Consultation,
    ConsultationStatus,
    Patient,
    Service,
    WalkInEntry,
)
from ..models.driver import driver_rows
from ..staff.members import StaffMember
from .visibility import NARROWED_BY, Scope, narrowed_for


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
    birth_date: date | None  # Patient.known_birth_date: none for a walk-in caller, nor once anonymised
    anonymised: bool  # Patient.details_anonymised
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
            birth_date=c.patient.known_birth_date,
            anonymised=c.patient.details_anonymised,
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
    Patient.known_birth_date,
    Patient.details_anonymised,
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


def listed_between(
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
    seen_by, seen = narrowed_for(viewer)
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
    """Whose consultations `scope` lists: the narrowing of NARROWED_BY and the value it takes."""
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
        query = query.where(NARROWED_BY[seen_by](bindparam("seen")))
    if shown_by is not None:
        query = query.where(NARROWED_BY[shown_by](bindparam("shown")))
    if booked_only:
        query = query.where(Consultation.status == ConsultationStatus.BOOKED)
    return query.order_by(Consultation.starts_at, Consultation.id)
