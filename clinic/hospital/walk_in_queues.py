"""Walk-in queues as admins keep them: the department (and service) a queue serves, its address, its
description, its weekly opening hours, the clinicians on duty, and whether it is open, paused or closed."""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import Clinician, Department, QueueStatus, Service, WalkInHours, WalkInQueue
from ..models.transactions import lock_rule, write_transaction
from ..scheduling.errors import NotFound
from ..scheduling.timezones import InvalidTimeZone, zone
from ..walkin.hours import parse_hours
from .records import InvalidSetting, Page, apply_changes, lines_text, one_line, paged

# The rule whose lock serialises saves of queues (their addresses, their duty): `lock_rule`.
QUEUE_RULE = "walk-in addresses"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True)
class QueueSettings:
    department_id: int
    service_id: int | None  # None: each call takes the first service its clinician offers there
    name: str
    slug: str
    description: str
    time_zone: str
    hours: str  # one "Mon 09:00-17:00" line per period
    staff_ids: list[int]


def queues_page(session: Session, page: int) -> Page[WalkInQueue]:
    """Every walk-in queue, by name."""
    return paged(session, select(WalkInQueue).order_by(WalkInQueue.name, WalkInQueue.id), page)


def save_queue(
    session: Session,
    queue_id: int | None,
    settings: QueueSettings,
    *,
    now: datetime,
    actor: Actor,
    drawn: int | None = None,
) -> WalkInQueue:
    """Create a queue (`queue_id` None) or change one as its page drew it (`drawn`, see `apply_changes`);
    commits and audits which fields changed."""
    name = one_line(settings.name, "name", limit=120, missing="Enter the queue's name.")
    description, slug = lines_text(settings.description, "description"), settings.slug.strip().lower()
    if not (_SLUG.fullmatch(slug) and len(slug) <= 80):
        raise InvalidSetting(
            "Use lower-case letters, digits and single hyphens, e.g. nurse-helpline.", field="slug"
        )
    try:
        zone(settings.time_zone)
        hours = parse_hours(settings.hours)
    except InvalidTimeZone:
        raise InvalidSetting("Choose a time zone from the list.", field="time_zone") from None
    except ValueError as wrong:
        raise InvalidSetting(str(wrong), field="hours") from None
    with write_transaction(session):
        queue = (
            WalkInQueue(status=QueueStatus.CLOSED) if queue_id is None else session.get(WalkInQueue, queue_id)
        )
        if queue is None:
            raise NotFound("There is no such walk-in queue.")
        lock_rule(session, QUEUE_RULE)
        _check_catalogue(session, settings, queue, slug)
        fields = {
            "department_id": settings.department_id,
            "service_id": settings.service_id,
            "name": name,
            "slug": slug,
            "description": description,
            "time_zone": settings.time_zone,
            "staff": list(
                session.scalars(
                    select(Clinician).where(Clinician.id.in_(settings.staff_ids)).order_by(Clinician.id)
                )
            ),
        }
        if queue_id is not None:
            queue.staff.sort(key=lambda c: c.id)  # compared as lists: the same order
        if _periods(queue.hours) != _periods(hours):  # new rows would never compare equal to the old
            fields["hours"] = hours
        apply_changes(session, queue, fields, action="walk_in_queue.saved", now=now, actor=actor, drawn=drawn)
    return queue


def set_queue_status(
    session: Session, queue_id: int, status: QueueStatus, *, now: datetime, actor: Actor
) -> WalkInQueue:
    """Open, pause or close a queue (those waiting when it closes are told by the worker's next round);
    InvalidSetting for opening or pausing one of a closed department."""
    with write_transaction(session):
        queue = session.get(WalkInQueue, queue_id)
        if queue is None:
            raise NotFound("There is no such walk-in queue.")
        if status is not QueueStatus.CLOSED and not queue.department.active:
            raise InvalidSetting(f"Open its department first: {queue.department.name} is closed.")
        _set_status(session, queue, status, now, actor)
    return queue


def queues_of(session: Session, department_id: int) -> list[WalkInQueue]:
    """The department's queues by name."""
    query = select(WalkInQueue).where(WalkInQueue.department_id == department_id)
    return list(session.scalars(query.order_by(WalkInQueue.name, WalkInQueue.id)))


def close_queues_of(session: Session, department_id: int, *, now: datetime, actor: Actor) -> None:
    """Close the department's queues, in the caller's transaction, as closing each from its page does."""
    for queue in queues_of(session, department_id):
        _set_status(session, queue, QueueStatus.CLOSED, now, actor)


def _set_status(
    session: Session, queue: WalkInQueue, status: QueueStatus, now: datetime, actor: Actor
) -> None:
    apply_changes(session, queue, {"status": status}, action="walk_in_queue.status", now=now, actor=actor)


def _periods(hours: list[WalkInHours]) -> list[tuple]:
    return sorted((h.weekday, h.start_time, h.end_time) for h in hours)


def _check_catalogue(session: Session, settings: QueueSettings, queue: WalkInQueue, slug: str) -> None:
    department = session.get(Department, settings.department_id)
    if department is None:
        raise InvalidSetting("Choose a department from the list.", field="department_id")
    if not department.active and queue.status is not QueueStatus.CLOSED:
        raise InvalidSetting("This department is closed: close the queue first.", field="department_id")
    if settings.service_id is not None:
        service = session.get(Service, settings.service_id)
        if service is None or service.department_id != settings.department_id:
            raise InvalidSetting("Choose one of the department's services, or none.", field="service_id")
    others = select(WalkInQueue.id).where(WalkInQueue.slug == slug, WalkInQueue.id != (queue.id or 0))
    if session.scalar(others) is not None:
        raise InvalidSetting("Another queue has this address.", field="slug")
    # Only active clinicians go on duty: a deactivated one is taken off it (hospital.clinicians).
    chosen = select(Clinician.id).where(Clinician.id.in_(settings.staff_ids), Clinician.active)
    if set(session.scalars(chosen)) != set(settings.staff_ids):
        raise InvalidSetting("Choose clinicians from the list.", field="staff_ids")
