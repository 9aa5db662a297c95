"""A clinician's weekly hours and time off, and the bookings a change leaves outside them (clashes).

Changes take the clinician's lock (see `locks`), so a booking in flight either lands before the
change, and then shows as a clash, or sees the new hours. Bookings are never moved or cancelled
here: every staff page showing a clash says so (see `clashes`), and the patient is told when staff act.
"""

from calendar import day_name
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..audit import Actor
from ..models import AvailabilityRule, Clinician, Consultation, StaffRole, TimeOff
from ..models.transactions import write_transaction
from ..staff.members import StaffMember
from .clashes import WAITING, clashes_of
from .errors import BookingError, ChangeNotAllowed, NotFound
from .locks import lock_clinicians
from .slots import WeeklyHours
from .timezones import format_local, zone


class RemovedAlready(NotFound):
    """Hours or time off that are not there (any more): removed by someone else, or by a click before."""


# One entry of time off spans at most this many days: a typo in a year should not close the diary.
MAX_TIME_OFF_DAYS = 366


class InvalidHours(BookingError):
    """Hours or time off that make no sense; `field` names the one to fix."""

    code = "invalid_hours"


@dataclass(frozen=True)
class ClinicianHours:
    """What the hours page shows: the weekly periods, time off still to come, and the clashes."""

    clinician: Clinician
    rules: list[AvailabilityRule]
    time_off: list[TimeOff]
    clashes: list[Consultation]
    today: date  # in the clinician's zone: the page names the zone's offset on it


def clinician_in_reach(session: Session, viewer: StaffMember, clinician_id: int) -> int:
    """The clinician whose hours or time off `viewer` may change: an admin any, reception only one of their
    own department (to record a sick colleague's absence); NotFound for any other, as for none."""
    clinician = session.get(Clinician, clinician_id)
    mine = viewer.role is StaffRole.ADMIN or (
        viewer.role is StaffRole.RECEPTION
        and clinician is not None
        and clinician.department_id == viewer.department_id
    )
    if clinician is None or not mine:
        raise NotFound("No such clinician.")
    return clinician_id


def hours_of(session: Session, clinician_id: int, now: datetime) -> ClinicianHours:
    """The clinician's weekly hours (by weekday and start), their time off from now, and the clashes."""
    clinician = session.get(Clinician, clinician_id, options=[selectinload(Clinician.availability_rules)])
    if clinician is None:
        raise NotFound("No such clinician.")
    rules = sorted(clinician.availability_rules, key=lambda r: (r.weekday, r.start_time))
    time_off = session.scalars(
        select(TimeOff)
        .where(TimeOff.clinician_id == clinician_id, TimeOff.ends_at > now)
        .order_by(TimeOff.starts_at)
    ).all()
    today = now.astimezone(zone(clinician.time_zone)).date()
    return ClinicianHours(clinician, rules, list(time_off), clashes(session, clinician, now), today)


def clashes(session: Session, clinician: Clinician, now: datetime) -> list[Consultation]:
    """Consultations still to come that no longer fit the clinician's hours, or fall in time off or a
    closure (see `clashes_of`)."""
    coming = session.scalars(
        select(Consultation)
        .where(
            Consultation.clinician_id == clinician.id,
            Consultation.status.in_(WAITING),
            Consultation.ends_at > now,
        )
        .options(selectinload(Consultation.patient))
        .order_by(Consultation.starts_at)
    ).all()
    found = clashes_of(session, coming, now)
    return [c for c in coming if c.id in found]


def add_hours(
    session: Session, clinician_id: int, weekday: int, start: time, end: time, *, now: datetime, actor: Actor
) -> AvailabilityRule:
    """Add a weekly working period, not overlapping another. An end at or before the start is on the next
    day: 00:00 is midnight, the end of `weekday`. The same period sent again (a double click) is the one
    kept already, as for time off."""
    if not 0 <= weekday <= 6:
        raise InvalidHours("Choose a day of the week.", field="weekday")
    if end == start:
        raise InvalidHours("The end must differ from the start.", field="end")
    period = WeeklyHours(weekday, start, end)
    with write_transaction(session):
        lock_clinicians(session, clinician_id)
        kept = session.scalars(
            select(AvailabilityRule).where(AvailabilityRule.clinician_id == clinician_id)
        ).all()
        for other in kept:  # the period itself, sent again: what was asked for is there already
            same = (other.weekday, other.start_time, other.end_time) == (weekday, start, end)
            if same and other.valid_from is None and other.valid_until is None:
                return other
        for other in kept:
            if period.meets(WeeklyHours(other.weekday, other.start_time, other.end_time)):
                day, start_at, end_at = day_name[other.weekday], other.start_time, other.end_time
                raise InvalidHours(
                    f"These hours overlap {day}'s hours from {start_at:%H:%M} to {end_at:%H:%M}.",
                    field="start",
                )
        rule = AvailabilityRule(clinician_id=clinician_id, weekday=weekday, start_time=start, end_time=end)
        session.add(rule)
        session.flush()
        _audit(session, clinician_id, "clinician.hours_added", now, actor, _described(rule))
    return rule


def remove_hours(session: Session, clinician_id: int, rule_id: int, *, now: datetime, actor: Actor) -> None:
    """Remove one weekly working period of this clinician (NotFound for anyone else's)."""
    _remove(session, AvailabilityRule, clinician_id, rule_id, now, actor)


def add_time_off(
    session: Session,
    clinician_id: int,
    starts_at: datetime,
    ends_at: datetime,
    label: str,
    *,
    now: datetime,
    actor: Actor,
    removable: Collection[int] | None = None,
) -> TimeOff:
    """Block [starts_at, ends_at) for new bookings; bookings already in it show as clashes.

    The same period sent again (a double click) is the one kept already; other time off it overlaps is
    refused, as which of the two a clinician meant is theirs to say. `removable`: the ids of the time off
    `actor` may remove (`removable_time_off`; None, all), so the refusal offers only what they may do."""
    if ends_at <= starts_at:
        raise InvalidHours("The end must be after the start.", field="ends_at")
    if ends_at <= now:
        raise InvalidHours("This time off is over already.", field="ends_at")
    if (ends_at - starts_at).days > MAX_TIME_OFF_DAYS:
        raise InvalidHours("Enter at most a year at a time.", field="ends_at")
    with write_transaction(session):
        lock_clinicians(session, clinician_id)
        overlapping = session.scalars(
            select(TimeOff)
            .where(
                TimeOff.clinician_id == clinician_id,
                TimeOff.starts_at < ends_at,
                TimeOff.ends_at > starts_at,
            )
            .order_by(TimeOff.starts_at)
        ).all()
        for kept in overlapping:  # the period itself, sent again: what was asked for is there already
            if (kept.starts_at, kept.ends_at, kept.label) == (starts_at, ends_at, label):
                return kept
        if overlapping:
            raise _overlap(session, clinician_id, overlapping[0], removable, now)
        off = TimeOff(clinician_id=clinician_id, starts_at=starts_at, ends_at=ends_at, label=label)
        session.add(off)
        session.flush()
        _audit(session, clinician_id, "clinician.time_off_added", now, actor, _described(off))
    return off


def _overlap(
    session: Session, clinician_id: int, kept: TimeOff, removable: Collection[int] | None, now: datetime
) -> InvalidHours:
    clinician = session.get_one(Clinician, clinician_id)
    when = format_local(kept.starts_at, zone(clinician.time_zone), until=kept.ends_at)
    if removable is not None and kept.id not in removable:  # the clinician's own leave, to the desk
        remedy = f"Choose times outside it, or ask {clinician.display_name} or an admin to change it."
    elif kept.starts_at < now:  # begun: taking it back ends it now (`remove_time_off`)
        remedy = "To change it, end it now and add the time off from then; or choose times outside it."
    else:
        remedy = "To change it, remove it and add the time off again; or choose times outside it."
    return InvalidHours(f"This overlaps time off already planned: {when}. {remedy}", field="starts_at")


def remove_time_off(
    session: Session, clinician_id: int, time_off_id: int, *, now: datetime, actor: Actor
) -> bool:
    """Give back time off of this clinician (NotFound for anyone else's); True if it had begun, and so ends
    now: the absence so far happened, and the bookings it left untaken are never the patient's no-show
    (clashes.ABSENT). Time off over already stays, the record of an absence (ChangeNotAllowed)."""
    with write_transaction(session):
        lock_clinicians(session, clinician_id)
        off = owned_row(session, TimeOff, clinician_id, time_off_id)
        if off.starts_at >= now:
            session.delete(off)
            _audit(session, clinician_id, "clinician.time_off_removed", now, actor, _described(off))
            return False
        if off.ends_at <= now:
            raise ChangeNotAllowed("This time off is over: it stays, as the record of the absence.")
        off.ends_at = now
        _audit(session, clinician_id, "clinician.time_off_ended", now, actor, _described(off))
    return True


_Row = TypeVar("_Row", AvailabilityRule, TimeOff)
# What each removable row is called in messages and audit events.
_NAMES = {AvailabilityRule: "hours", TimeOff: "time_off"}


def _remove(
    session: Session,
    model: type[AvailabilityRule] | type[TimeOff],
    clinician_id: int,
    row_id: int,
    now: datetime,
    actor: Actor,
) -> None:
    with write_transaction(session):
        lock_clinicians(session, clinician_id)
        row = owned_row(session, model, clinician_id, row_id)
        session.delete(row)
        _audit(session, clinician_id, f"clinician.{_NAMES[model]}_removed", now, actor, _described(row))


def owned_row(session: Session, model: type[_Row], clinician_id: int, row_id: int) -> _Row:
    """The clinician's row of `model`; NotFound for anyone else's, RemovedAlready for none (a removal sent
    twice, or after another's): it is not there either way, and nobody else's is named."""
    row = session.get(model, row_id)
    if row is None:
        raise RemovedAlready(f"No such {_NAMES[model].replace('_', ' ')}.")
    if row.clinician_id != clinician_id:
        raise NotFound(f"No such {_NAMES[model].replace('_', ' ')}.")
    return row


def _described(row: AvailabilityRule | TimeOff) -> dict:
    """An added or removed row as its audit event tells it: its id and its times (never a time off's label,
    which may say why someone is away). A removed row is deleted: the event is all that says what it was."""
    if isinstance(row, AvailabilityRule):
        times = {"start": row.start_time.isoformat(), "end": row.end_time.isoformat()}
        return {"rule_id": row.id, "weekday": row.weekday, **times}
    return {"time_off_id": row.id, "starts_at": row.starts_at.isoformat(), "ends_at": row.ends_at.isoformat()}


def _audit(
    session: Session, clinician_id: int, action: str, now: datetime, actor: Actor, details: dict
) -> None:
    audit.record(
        session, actor, action, entity_type="clinician", entity_id=clinician_id, now=now, details=details
    )
