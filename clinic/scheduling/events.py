"""The audit events of changes to a consultation: one shape for bookings, moves, the day's steps and
companions."""

from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import Consultation


def record_event(
    session: Session,
    consultation: Consultation,
    action: str,
    now: datetime,
    actor: Actor,
    changed: list[str] | None = None,
    **ids: int | str,
) -> None:
    """Audit a change to `consultation`, naming it by reference and clinician (and the fields changed,
    and the ids of other records the change touched, such as `companion_id`, or of the privacy
    notice agreed to)."""
    details: dict = {"reference": consultation.reference, "clinician_id": consultation.clinician_id, **ids}
    if changed:
        details["changed"] = changed
    audit.record(
        session,
        actor,
        action,
        entity_type="consultation",
        entity_id=consultation.id,
        now=now,
        details=details,
    )
