"""Services as admins keep them: the booking rules of each kind of consultation, and its video provider."""

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager

from ..audit import Actor
from ..meetings.base import PROVIDER_NAMES
from ..models import Department, Service
from ..models.transactions import write_transaction
from ..scheduling.errors import NotFound
from .records import InvalidSetting, Page, apply_changes, lines_text, one_line, paged, taken

# Inclusive bounds in minutes (days for the horizon). A consultation with its buffers stays under a day,
# as the slot search assumes (availability.MAX_BLOCK).
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
    session: Session, service_id: int | None, settings: ServiceSettings, *, now: datetime, actor: Actor
) -> Service:
    """Create a service (`service_id` None) or change one; commits and audits what changed.

    A new provider makes new meetings only: moves and cancellations go to the provider that made each one.
    """
    fields = _checked(settings)
    with write_transaction(session):
        service = Service() if service_id is None else session.get(Service, service_id, with_for_update=True)
        if service is None:
            raise NotFound("There is no such service.")
        if session.get(Department, settings.department_id) is None:
            raise InvalidSetting("Choose a department from the list.", field="department_id")
        others = select(Service.name).where(
            Service.department_id == settings.department_id, Service.id != (service_id or 0)
        )
        if taken(session, others, fields["name"]):
            raise InvalidSetting("This department has a service with this name already.", field="name")
        apply_changes(session, service, fields, action="service.saved", now=now, actor=actor)
    return service


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
