"""The audit events of a consultation: one shape for bookings, moves, the day's steps and companions,
and for reads of its patient's data."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import AuditEvent, Consultation
from ..models.driver import Statement
from ..models.transactions import write_transaction

VIEWED = "consultation.viewed"


def record_event(
    session: Session,
    consultation: Consultation,
    action: str,
    now: datetime,
    actor: Actor,
    changed: list[str] | None = None,
    first: Sequence[Statement] = (),
    **ids: int | str,
) -> None:
    """Audit a change to `consultation`, naming it by reference and clinician (and the fields changed,
    and the ids of other records the change touched, such as `companion_id`, or of the privacy
    notice agreed to). `first`: the change's own statements still to send (see `audit.record`)."""
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
        first=first,
    )


def record_read(session: Session, consultation: Consultation, view: str, now: datetime, actor: Actor) -> None:
    """Audit that `actor` read the consultation's patient data on `view` (a page or an API call), in a
    transaction of its own: reads of patient data are events too."""
    with write_transaction(session):
        record_event(session, consultation, VIEWED, now, actor, view=view)


def history(session: Session, consultation: Consultation) -> list[AuditEvent]:
    """What happened to the consultation, oldest first: its changes, without the reads."""
    return [e for e in audit.events_for(session, "consultation", consultation.id) if e.action != VIEWED]
