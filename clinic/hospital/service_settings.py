"""What admins set per service: for now, the video provider that makes its meetings."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from .. import audit
from ..audit import Actor
from ..meetings.base import PROVIDER_NAMES
from ..models import Department, Service
from ..models.transactions import write_transaction
from ..scheduling.errors import NotFound


class UnknownProvider(ValueError):
    """A provider name that is not in the registry."""


def services_for_admin(session: Session) -> list[Service]:
    """Every service, inactive ones too, by department then name."""
    query = (
        select(Service)
        .join(Service.department)
        .options(joinedload(Service.department))
        .order_by(Department.name, Service.name, Service.id)
    )
    return list(session.scalars(query))


def set_meeting_provider(
    session: Session, service_id: int, provider: str | None, *, now: datetime, actor: Actor
) -> Service:
    """Make `provider` (None: the hospital's MEETING_PROVIDER) create the service's new meetings; commits.

    Existing meetings stay where they are: moves and cancellations go to the provider that made them.
    """
    if provider is not None and provider not in PROVIDER_NAMES:
        raise UnknownProvider(f"Choose one of {', '.join(PROVIDER_NAMES)}, or the hospital default.")
    with write_transaction(session):
        service = session.get(Service, service_id, with_for_update=True)
        if service is None:
            raise NotFound("There is no such service.")
        if service.meeting_provider != provider:
            service.meeting_provider = provider
            audit.record(
                session,
                actor,
                "service.meeting_provider_set",
                entity_type="service",
                entity_id=service.id,
                now=now,
                details={"changed": ["meeting_provider"], "meeting_provider": provider or "default"},
            )
    return service
