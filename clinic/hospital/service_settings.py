"""Services as admins keep them: the booking rules of each kind of consultation, and its video provider."""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, contains_eager

from ..audit import Actor
from ..meetings.base import PROVIDER_NAMES
from ..models import ACTIVE_STATUSES, Consultation, Department, Service, WalkInQueue, clinician_service
from ..models.transactions import lock_rule, write_transaction
from ..scheduling.errors import NotFound
from ..scheduling.locks import lock_clinicians
from .records import InvalidSetting, Page, apply_changes, lines_text, one_line, paged, taken

# Inclusive bounds in minutes (days for the horizon). A consultation with its buffers stays under a day,
# as the slot search assumes (calendars.MAX_BLOCK).
LIMITS = {
    "duration_minutes": (5, 8 * 60),
    "buffer_before_minutes": (0, 4 * 60),
    "buffer_after_minutes": (0, 4 * 60),
    "min_notice_minutes": (0, 30 * 24 * 60),
    "horizon_days": (1, 730),
    "slot_interval_minutes": (5, 8 * 60),
    "cancel_cutoff_minutes": (0, 30 * 24 * 60),
}


@dataclass(frozen=True)
class ServiceSettings:
    department_id: int
    name: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    horizon_days: int
    slot_interval_minutes: int
    cancel_cutoff_minutes: int
    meeting_provider: str | None  # None: the hospital's MEETING_PROVIDER
    active: bool


def services_page(session: Session, page: int) -> Page[Service]:
    """Every service, inactive ones too, by department then name."""
    return paged(session, _every_service(), page)


def all_services(session: Session) -> list[Service]:
    """Every service by department then name: what a clinician's services are chosen from."""
    return list(session.scalars(_every_service()))


def _every_service() -> Select:
    return (
        select(Service)
        .join(Service.department)
        .options(contains_eager(Service.department))
        .order_by(Department.name, Service.name, Service.id)
    )


def save_service(
    session: Session,
    service_id: int | None,
    settings: ServiceSettings,
    *,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> Service:
    """Create a service (`service_id` None) or change one as its page drew it (`drawn`, see `apply_changes`);
    commits and audits what changed.

    A new provider makes new meetings only: moves and cancellations go to the provider that made each one.
    """
    fields = _checked(settings)
    with write_transaction(session):
        if service_id is not None:  # the booking's lock, first: see _block_buffers
            lock_clinicians(session, *_clinicians_of(session, service_id, now))
        service = Service() if service_id is None else session.get(Service, service_id, with_for_update=True)
        if service is None:
            raise NotFound("There is no such service.")
        if session.get(Department, settings.department_id) is None:
            raise InvalidSetting("Choose a department from the list.", field="department_id")
        lock_rule(session, "service names")
        others = select(Service.name).where(
            Service.department_id == settings.department_id, Service.id != (service_id or 0)
        )
        if taken(session, others, fields["name"]):
            raise InvalidSetting("This department has a service with this name already.", field="name")
        if service_id is not None and settings.department_id != service.department_id:
            _check_no_queue_left_behind(session, service)
        changed = apply_changes(
            session, service, fields, action="service.saved", now=now, actor=actor, drawn=drawn
        )
        if {"buffer_before_minutes", "buffer_after_minutes"} & set(changed):
            _block_buffers(session, service, now)
    return service


def _check_no_queue_left_behind(session: Session, service: Service) -> None:
    """Refuse to move a service to another department while a walk-in queue takes its calls under it: the
    queue's calls would be booked in a department not its own, as its page refuses (walk_in_queues)."""
    query = select(WalkInQueue.name).where(WalkInQueue.service_id == service.id).order_by(WalkInQueue.name)
    queues = list(session.scalars(query))
    if queues:
        raise InvalidSetting(
            f"The walk-in queue {' and '.join(queues)} takes its calls under this service: choose another "
            "service for it first.",
            field="department_id",
        )


def _clinicians_of(session: Session, service_id: int, now: datetime) -> set[int]:
    """Whoever offers the service or has bookings of it to come: the clinicians whose time a change of its
    buffers decides."""
    offering = select(clinician_service.c.clinician_id).where(clinician_service.c.service_id == service_id)
    booked = select(Consultation.clinician_id).where(*_to_come(service_id, now))
    return set(session.scalars(offering.union(booked)))


def _to_come(service_id: int, now: datetime) -> tuple:
    return (
        Consultation.service_id == service_id,
        Consultation.status.in_(ACTIVE_STATUSES),
        Consultation.blocked_until > now,
    )


def _block_buffers(session: Session, service: Service, now: datetime) -> None:
    """Set the blocked time of the service's bookings to come by its buffers, each as far as the time
    around it is free: a booking made next to one before the buffers grew keeps its time.

    Under the clinicians' locks, taken before the service's row, as a booking takes them: a booking that
    raced the change either committed first (and is found here) or checks its time after this commits."""
    before = timedelta(minutes=service.buffer_before_minutes)
    after = timedelta(minutes=service.buffer_after_minutes)
    query = select(Consultation).where(*_to_come(service.id, now)).order_by(Consultation.starts_at)
    for consultation in session.scalars(query).all():
        others = (
            Consultation.clinician_id == consultation.clinician_id,
            Consultation.id != consultation.id,
            Consultation.status.in_(ACTIVE_STATUSES),
        )
        wanted_from, wanted_until = consultation.starts_at - before, consultation.ends_at + after
        earlier = session.scalar(
            select(func.max(Consultation.blocked_until)).where(
                *others,
                Consultation.blocked_until > wanted_from,
                Consultation.blocked_from < consultation.starts_at,
            )
        )
        later = session.scalar(
            select(func.min(Consultation.blocked_from)).where(
                *others,
                Consultation.blocked_from < wanted_until,
                Consultation.blocked_until > consultation.ends_at,
            )
        )
        consultation.blocked_from = (
            max(wanted_from, min(earlier, consultation.starts_at)) if earlier else wanted_from
        )
        consultation.blocked_until = (
            min(wanted_until, max(later, consultation.ends_at)) if later else wanted_until
        )
        session.flush()  # the next booking's neighbours read this one's new span


def _checked(settings: ServiceSettings) -> dict:
    """The settings as model fields, tidied; InvalidSetting beside the first field out of bounds."""
    fields = asdict(settings)
    fields["name"] = one_line(settings.name, "name", limit=120, missing="Enter the service's name.")
    fields["description"] = lines_text(settings.description, "description")
    for name, (low, high) in LIMITS.items():
        if not low <= fields[name] <= high:
            raise InvalidSetting(f"Enter a whole number from {low} to {high}.", field=name)
    if settings.meeting_provider is not None and settings.meeting_provider not in PROVIDER_NAMES:
        raise InvalidSetting("Choose one of the options in the list.", field="meeting_provider")
    return fields
