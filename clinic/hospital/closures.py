"""Clinic closures: days a department, or the whole hospital, takes no bookings.

The slot search treats a closure as time off of every clinician it covers (scheduling/calendars).
Bookings made already stay: they are listed as clashes, for staff to move or cancel, telling the patient.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from .. import audit
from ..audit import Actor
from ..models import Clinician, Closure, Consultation, ConsultationStatus, Department
from ..models.transactions import write_transaction
from ..scheduling.hours import MAX_TIME_OFF_DAYS
from ..scheduling.timezones import day_bounds
from .records import InvalidSetting, Page, one_line, paged


@dataclass(frozen=True)
class ClosuresPage:
    """Closures not over yet, soonest first, and the bookings each leaves stranded."""

    closures: Page[Closure]
    clashes: dict[int, list[Consultation]]


def closures_to_come(session: Session, now: datetime, page: int) -> ClosuresPage:
    query = (
        select(Closure)
        .where(Closure.ends_at > now)
        .options(joinedload(Closure.department))
        .order_by(Closure.starts_at, Closure.id)
    )
    found = paged(session, query, page)
    return ClosuresPage(found, _clashes(session, [c.id for c in found.rows], now))


def _clashes(session: Session, closure_ids: list[int], now: datetime) -> dict[int, list[Consultation]]:
    """Booked consultations still to come inside each closure, in one query."""
    query = (
        select(Closure.id, Consultation)
        .join(Clinician, Clinician.id == Consultation.clinician_id)
        .join(
            Closure,
            Closure.covers(Clinician.department_id)
            & (Consultation.starts_at < Closure.ends_at)
            & (Consultation.ends_at > Closure.starts_at),
        )
        .where(
            Closure.id.in_(closure_ids),
            Consultation.status.in_((ConsultationStatus.BOOKED, ConsultationStatus.ARRIVED)),
            Consultation.ends_at > now,
        )
        .options(selectinload(Consultation.patient), joinedload(Consultation.clinician))
        .order_by(Consultation.starts_at)
    )
    found: dict[int, list[Consultation]] = defaultdict(list)
    for closure_id, consultation in session.execute(query):
        found[closure_id].append(consultation)
    return found


def add_closure(
    session: Session,
    department_id: int | None,
    first_day: date,
    last_day: date,
    label: str,
    *,
    tz: ZoneInfo,
    now: datetime,
    actor: Actor,
) -> Closure:
    """Close a department (None: the hospital) from the start of `first_day` to the end of `last_day`,
    days in the hospital's zone `tz`; commits and audits."""
    label = one_line(label, "label", limit=120)
    starts_at, ends_at = day_bounds(first_day, tz)[0], day_bounds(last_day, tz)[1]
    if last_day < first_day:
        raise InvalidSetting("The last day must be on or after the first.", field="last_day")
    if ends_at <= now:
        raise InvalidSetting("This closure is over already.", field="last_day")
    if (last_day - first_day).days >= MAX_TIME_OFF_DAYS:
        raise InvalidSetting("Enter at most a year at a time.", field="last_day")
    with write_transaction(session):
        if department_id is not None and session.get(Department, department_id) is None:
            raise InvalidSetting("Choose a department from the list.", field="department_id")
        closure = Closure(department_id=department_id, starts_at=starts_at, ends_at=ends_at, label=label)
        session.add(closure)
        session.flush()
        _audit(session, "closure.added", closure, now, actor)
    return closure


def remove_closure(session: Session, closure_id: int, *, now: datetime, actor: Actor) -> bool:
    """Open again what a closure closed; commits and audits. False if it is not there (any more): removed
    by another admin, or by a click before, which is what was asked."""
    with write_transaction(session):
        closure = session.get(Closure, closure_id)
        if closure is None:
            return False
        _audit(session, "closure.removed", closure, now, actor)
        session.delete(closure)
    return True


def _audit(session: Session, action: str, closure: Closure, now: datetime, actor: Actor) -> None:
    # With the days it closes: a removed closure is deleted, and its event is all that says what it was.
    span = {"starts_at": closure.starts_at.isoformat(), "ends_at": closure.ends_at.isoformat()}
    details = {"department_id": closure.department_id, **span}
    audit.record(
        session, actor, action, entity_type="closure", entity_id=closure.id, now=now, details=details
    )
