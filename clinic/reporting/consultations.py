"""Consultations per week: bookings, cancellations, no-shows, utilisation and lead time, for the hospital,
each department and each clinician. What each figure counts is written on the report page
(templates/admin/reports.html) and in docs/operations.md; keep the three in step.

Every figure is aggregated in SQL over the consultations starting in the period (an index range on
`starts_at`); only offered time is computed in Python, by the slot engine's own expansion of weekly hours.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, Subquery, case, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session

from ..hospital.records import Page, page_or_all
from ..models import Clinician, Consultation, ConsultationStatus, Department, Patient
from ..models.base import unix_seconds
from ..scheduling.calendars import offered_time
from .sql import MEDIAN, P90, percentiles
from .weeks import ReportFilter, Week

PER_PAGE = 10  # departments or clinicians per page: each has a row per week
Entity = TypeVar("Entity", Department, Clinician)


@dataclass
class WeekFigures:
    """One week's figures for the hospital, a department or a clinician. Times are in seconds."""

    booked: int = 0  # consultations starting in the week, cancelled ones included; no walk-in calls
    cancelled: int = 0
    no_shows: int = 0
    booked_seconds: int = 0  # the length of the consultations and walk-in calls not cancelled
    offered_seconds: int = 0  # weekly hours less time off and closures
    lead_median: int | None = None  # booking to start, over those not cancelled (nearest rank)
    lead_p90: int | None = None

    @property
    def utilisation(self) -> float | None:
        """Booked time over offered time; None when nothing was offered."""
        return self.booked_seconds / self.offered_seconds if self.offered_seconds else None


@dataclass(frozen=True)
class ReportLine:
    """A department's or clinician's figures, one per week of the period."""

    id: int
    name: str
    department: str
    weeks: list[WeekFigures] = field(default_factory=list)


@dataclass(frozen=True)
class ConsultationReport:
    weeks: list[Week]
    totals: list[WeekFigures]  # the hospital's, or the chosen department's
    departments: Page[ReportLine]
    clinicians: Page[ReportLine]


def consultation_report(
    session: Session, wanted: ReportFilter, *, departments_page: int = 1, clinicians_page: int = 1
) -> ConsultationReport:
    """The weekly totals, and one page each of departments and clinicians."""
    return ConsultationReport(
        wanted.weeks,
        weekly_totals(session, wanted),
        department_lines(session, wanted, departments_page),
        clinician_lines(session, wanted, clinicians_page),
    )


def weekly_totals(session: Session, wanted: ReportFilter) -> list[WeekFigures]:
    """The figures of every consultation in the filter, per week."""
    clinician_ids = list(session.scalars(_clinicians(wanted).with_only_columns(Clinician.id)))
    offered = _offered(session, wanted, {clinician_id: 0 for clinician_id in clinician_ids})
    found = _figures(session, wanted, literal_column("0"), offered)
    return _weeks_of(found, wanted, 0)


def department_lines(session: Session, wanted: ReportFilter, page: int | None = None) -> Page[ReportLine]:
    """Each department's weekly figures: one page of them, or all when `page` is None."""
    query = select(Department).order_by(Department.name, Department.id)
    if wanted.department_id is not None:
        query = query.where(Department.id == wanted.department_id)
    departments = page_or_all(session, query, page, PER_PAGE)
    members = session.execute(
        _clinicians(wanted)
        .where(Clinician.department_id.in_([d.id for d in departments.rows]))
        .with_only_columns(Clinician.id, Clinician.department_id)
    )
    offered = _offered(session, wanted, {clinician_id: owner for clinician_id, owner in members})
    found = _figures(session, wanted, Clinician.department_id, offered, [d.id for d in departments.rows])
    lines = [ReportLine(d.id, d.name, d.name, _weeks_of(found, wanted, d.id)) for d in departments.rows]
    return Page(lines, departments.page, departments.has_next)


def clinician_lines(session: Session, wanted: ReportFilter, page: int | None = None) -> Page[ReportLine]:
    """Each clinician's weekly figures (the active ones, and others with consultations in the period),
    by department and name: one page of them, or all when `page` is None."""
    query = _clinicians(wanted).order_by(Department.name, Clinician.display_name, Clinician.id)
    clinicians = page_or_all(session, query, page, PER_PAGE)
    ids = [c.id for c in clinicians.rows]
    offered = _offered(session, wanted, {clinician_id: clinician_id for clinician_id in ids})
    found = _figures(session, wanted, Consultation.clinician_id, offered, ids)
    lines = [
        ReportLine(c.id, c.display_name, c.department.name, _weeks_of(found, wanted, c.id))
        for c in clinicians.rows
    ]
    return Page(lines, clinicians.page, clinicians.has_next)


def _clinicians(wanted: ReportFilter) -> Select:
    """The clinicians a report lists: those active, and any with a consultation in the period."""
    in_period = exists().where(Consultation.clinician_id == Clinician.id, *_in_period(wanted))
    query = select(Clinician).join(Department).where(or_(Clinician.active.is_(True), in_period))
    if wanted.department_id is not None:
        query = query.where(Clinician.department_id == wanted.department_id)
    return query


# Figures found, by (department or clinician id, week index).
_Found = dict[tuple[int, int], WeekFigures]


def _figures(
    session: Session,
    wanted: ReportFilter,
    key: ColumnElement[int],
    found: _Found,
    keys: Iterable[int] | None = None,
) -> _Found:
    """Counts, booked time and lead times grouped by `key` (a column) and week, added to `found` (which
    holds the offered time)."""
    scope = [*_in_period(wanted)]
    if wanted.department_id is not None:
        scope.append(Clinician.department_id == wanted.department_id)
    if keys is not None:
        scope.append(key.in_(list(keys)))
    week_of_start = wanted.week_index(Consultation.starts_at)  # built once: a CASE of a branch per week
    for owner, week, booked, cancelled, no_shows, booked_seconds in session.execute(
        _counts(week_of_start, key, scope)
    ):
        figures = found.setdefault((owner, week), WeekFigures())
        # PostgreSQL sums bigints as numeric (Decimal): whole numbers here, so back to int.
        figures.booked, figures.cancelled, figures.no_shows = int(booked), int(cancelled), int(no_shows)
        figures.booked_seconds = int(booked_seconds)
    leads = _leads(week_of_start, key, scope)
    for group, at in percentiles(session, (leads.c.owner, leads.c.week), leads.c.lead, (MEDIAN, P90)).items():
        figures = found.setdefault(group, WeekFigures())
        figures.lead_median, figures.lead_p90 = at[MEDIAN], at[P90]
    return found


# A walk-in call is no booking (the walk-in table counts its caller): not among the consultations, their
# cancellations (a caller sent back) or lead times (made as it starts); only its time, the clinician's.
# Consultation.is_walk_in's rule, in SQL.
_WALK_IN_CALL = Patient.birth_date.is_(None)


def _in_period(wanted: ReportFilter) -> list[ColumnElement[bool]]:
    return [Consultation.starts_at >= wanted.starts_at, Consultation.starts_at < wanted.ends_at]


def _counts(week: ColumnElement[int], key: ColumnElement[int], scope: list) -> Select:
    """Per key and week: consultations, cancelled ones, no-shows, and seconds booked (not cancelled).

    The week is computed in a subquery and grouped on outside: on PostgreSQL the CASE's bound values would
    be new parameters in a GROUP BY of its own, which the server cannot match to the select list's."""
    cancelled = Consultation.status == ConsultationStatus.CANCELLED
    length = unix_seconds(Consultation.ends_at) - unix_seconds(Consultation.starts_at)
    rows = (
        select(
            key.label("owner"),
            week.label("week"),
            case((_WALK_IN_CALL, 0), else_=1).label("booking"),
            case((_WALK_IN_CALL, 0), (cancelled, 1), else_=0).label("cancelled"),
            case((Consultation.status == ConsultationStatus.NOSHOW, 1), else_=0).label("no_show"),
            case((cancelled, 0), else_=length).label("booked_seconds"),
        )
        .join(Clinician, Clinician.id == Consultation.clinician_id)
        .join(Patient, Patient.id == Consultation.patient_id)
        .where(*scope)
        .subquery()
    )
    return select(
        rows.c.owner,
        rows.c.week,
        func.sum(rows.c.booking),
        func.sum(rows.c.cancelled),
        func.sum(rows.c.no_show),
        func.sum(rows.c.booked_seconds),
    ).group_by(rows.c.owner, rows.c.week)


def _leads(week: ColumnElement[int], key: ColumnElement[int], scope: list) -> Subquery:
    """Per consultation not cancelled: its key, week and lead time (booking to start)."""
    return (
        select(
            key.label("owner"),
            week.label("week"),
            (unix_seconds(Consultation.starts_at) - unix_seconds(Consultation.created_at)).label("lead"),
        )
        .join(Clinician, Clinician.id == Consultation.clinician_id)
        .join(Patient, Patient.id == Consultation.patient_id)
        .where(*scope, Consultation.status != ConsultationStatus.CANCELLED, ~_WALK_IN_CALL)
        .subquery()
    )


def _offered(session: Session, wanted: ReportFilter, owner_of: dict[int, int]) -> _Found:
    """Offered seconds per (owner, week), for clinicians mapped to their owner (department or themselves)."""
    found: _Found = {}
    for clinician_id, spans in offered_time(
        session, list(owner_of), wanted.starts_at, wanted.ends_at
    ).items():
        for week, seconds in enumerate(wanted.seconds_per_week(spans)):
            figures = found.setdefault((owner_of[clinician_id], week), WeekFigures())
            figures.offered_seconds += seconds
    return found


def _weeks_of(found: _Found, wanted: ReportFilter, owner: int) -> list[WeekFigures]:
    return [found.get((owner, week), WeekFigures()) for week in range(len(wanted.weeks))]
