"""Clinicians as admins keep them: who patients see, their zone, department and services, and whether
they still take bookings. Deactivating them, or taking a service from them, waits until their bookings to
come (of that service) are moved or cancelled."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from .. import audit
from ..audit import Actor
from ..models import Clinician, Consultation, ConsultationStatus, Department, Service, WalkInQueue
from ..models.transactions import lock_rule, write_transaction
from ..scheduling.errors import NotFound
from ..scheduling.hours import clashes
from ..scheduling.locks import lock_clinicians
from ..scheduling.timezones import InvalidTimeZone, zone
from .records import InvalidSetting, Page, apply_changes, email_text, one_line, paged, taken
from .walk_in_queues import QUEUE_RULE


@dataclass(frozen=True)
class ClinicianSettings:
    display_name: str
    title: str
    email: str
    time_zone: str
    department_id: int
    service_ids: list[int]


@dataclass(frozen=True)
class ZoneMove:
    """What a change of a clinician's zone did: their weekly hours keep their clock times, now read in
    `to`, so each period starts `earlier_minutes` earlier (negative: later) in `was` time today; their
    bookings keep their instants, and `misfits` of those to come no longer fit their hours."""

    was: str
    to: str
    earlier_minutes: int
    misfits: int


def clash_ids(session: Session, clinician: Clinician, now: datetime) -> set[int]:
    """The ids of the clinician's bookings to come that do not fit their time (see `hours.clashes`)."""
    return {c.id for c in clashes(session, clinician, now)}


def zone_move(
    session: Session, clinician: Clinician, was: str, clashed: set[int], now: datetime
) -> ZoneMove | None:
    """What moving the clinician's zone from `was` did (see ZoneMove), the bookings that clashed before it
    (`clash_ids`) left out of those it put outside the hours; None if it did not change."""
    if clinician.time_zone == was:
        return None
    offset = now.astimezone(zone(clinician.time_zone)).utcoffset() - now.astimezone(zone(was)).utcoffset()
    earlier = int(offset.total_seconds() // 60)
    return ZoneMove(was, clinician.time_zone, earlier, len(clash_ids(session, clinician, now) - clashed))


def clinicians_page(session: Session, page: int) -> Page[Clinician]:
    """Every clinician, inactive ones too, by name, with their department and services."""
    query = (
        select(Clinician)
        .options(joinedload(Clinician.department), selectinload(Clinician.services))
        .order_by(Clinician.display_name, Clinician.id)
    )
    return paged(session, query, page)


def save_clinician(
    session: Session,
    clinician_id: int | None,
    settings: ClinicianSettings,
    *,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> Clinician:
    """Create a clinician (`clinician_id` None) or change one as its page drew it (`drawn`, see
    `apply_changes`); commits and audits what changed."""
    name = one_line(settings.display_name, "display_name", limit=120, missing="Enter the name patients see.")
    title = one_line(settings.title, "title", limit=120)
    email = email_text(settings.email, "email")
    try:
        zone(settings.time_zone)
    except InvalidTimeZone:
        raise InvalidSetting("Choose a time zone from the list.", field="time_zone") from None
    with write_transaction(session):
        if clinician_id is not None:
            lock_clinicians(session, clinician_id)  # no booking of a service being removed slips in
        clinician = Clinician() if clinician_id is None else session.get(Clinician, clinician_id)
        if clinician is None:
            raise NotFound("There is no such clinician.")
        if session.get(Department, settings.department_id) is None:
            raise InvalidSetting("Choose a department from the list.", field="department_id")
        lock_rule(session, "clinician addresses")
        others = select(Clinician.email).where(Clinician.id != (clinician_id or 0))
        if taken(session, others, email):
            raise InvalidSetting("Another clinician has this e-mail address.", field="email")
        services = list(session.scalars(select(Service).where(Service.id.in_(settings.service_ids))))
        if len(services) != len(set(settings.service_ids)):
            raise InvalidSetting("Choose services from the list.", field="service_ids")
        fields = {
            "display_name": name,
            "title": title,
            "email": email,
            "time_zone": settings.time_zone,
            "department_id": settings.department_id,
            "services": sorted(services, key=lambda s: s.id),
        }
        if clinician_id is not None:
            _check_no_bookings_stranded(session, clinician, set(settings.service_ids), now)
            clinician.services.sort(key=lambda s: s.id)  # compared as lists: the same order
        apply_changes(session, clinician, fields, action="clinician.saved", now=now, actor=actor, drawn=drawn)
    return clinician


def _check_no_bookings_stranded(
    session: Session, clinician: Clinician, service_ids: set[int], now: datetime
) -> None:
    """Refuse to take a service from a clinician while bookings of it with them are to come: nobody
    could move those any more (a move keeps the clinician and needs them to offer it). As deactivating."""
    removed = {s.id: s.name for s in clinician.services if s.id not in service_ids}
    stranded = [c for c in bookings_to_come(session, clinician.id, now) if c.service_id in removed]
    if stranded:
        names = " and ".join(sorted({removed[c.service_id] for c in stranded}))
        references = ", ".join(c.reference for c in stranded)
        raise InvalidSetting(
            f"Move or cancel the bookings of {names} to come ({references}) first: they are listed below.",
            field="service_ids",
        )


def bookings_to_come(session: Session, clinician_id: int, now: datetime) -> list[Consultation]:
    """The clinician's consultations that are booked and not over, soonest first, patients loaded."""
    query = (
        select(Consultation)
        .where(
            Consultation.clinician_id == clinician_id,
            Consultation.status.in_((ConsultationStatus.BOOKED, ConsultationStatus.ARRIVED)),
            Consultation.ends_at > now,
        )
        .options(selectinload(Consultation.patient), joinedload(Consultation.service))
        .order_by(Consultation.starts_at)
    )
    return list(session.scalars(query))


def clinicians_booking(session: Session, clinician_id: int, consultation_id: int) -> Consultation:
    """The clinician's consultation; NotFound if it is not theirs (or none). Loaded without joins: the
    cancel locks it FOR UPDATE with the same options, which PostgreSQL refuses on an outer join."""
    query = select(Consultation).where(
        Consultation.id == consultation_id, Consultation.clinician_id == clinician_id
    )
    consultation = session.scalar(query)
    if consultation is None:
        raise NotFound("This clinician has no such booking.")
    return consultation


def set_clinician_active(
    session: Session, clinician_id: int, active: bool, *, now: datetime, actor: Actor
) -> tuple[Clinician, list[str]]:
    """Take a clinician off (or back on) the booking pages; commits and audits. Returns them and the names
    of the walk-in queues whose duty deactivating took them off.

    Deactivating is refused while they have bookings to come: those are moved or cancelled first, each
    through the lifecycle that tells the patient. Under the clinician's lock, so no booking slips in.
    It takes them off every queue's duty too (each queue's change audited as its page's save is), so no
    page counts them on duty; reactivating puts them back on none, which an admin does on the queue's page.
    """
    with write_transaction(session):
        lock_clinicians(session, clinician_id)
        clinician = session.get(Clinician, clinician_id)
        if clinician is None:
            raise NotFound("There is no such clinician.")
        if not active and bookings_to_come(session, clinician_id, now):
            raise InvalidSetting("Move or cancel their bookings to come first.", field="active")
        off_duty_of = [] if active else _take_off_duty(session, clinician, now=now, actor=actor)
        if clinician.active != active:
            clinician.active = active
            action = "clinician.reactivated" if active else "clinician.deactivated"
            audit.record(session, actor, action, entity_type="clinician", entity_id=clinician_id, now=now)
    return clinician, off_duty_of


def _take_off_duty(session: Session, clinician: Clinician, *, now: datetime, actor: Actor) -> list[str]:
    """Take the clinician off the duty of each walk-in queue they are on, under the queues' rule's lock
    (as their page's save), audited; the queues' names."""
    lock_rule(session, QUEUE_RULE)
    queues = session.scalars(
        select(WalkInQueue)
        .where(WalkInQueue.staff.any(Clinician.id == clinician.id))
        .order_by(WalkInQueue.name, WalkInQueue.id)
    ).all()
    for queue in queues:
        queue.staff.sort(key=lambda c: c.id)  # compared as lists: the same order
        staff = [c for c in queue.staff if c.id != clinician.id]
        apply_changes(session, queue, {"staff": staff}, action="walk_in_queue.saved", now=now, actor=actor)
    return [queue.name for queue in queues]
