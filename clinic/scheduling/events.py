"""The audit events of a consultation: one shape for bookings, moves, the day's steps and companions,
and for reads of its patient's data."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from .. import audit
from ..audit import Actor
from ..models import Consultation
from ..models.driver import Statement
from ..models.transactions import write_transaction

VIEWED = "consultation.viewed"
NOTES_READ = "note.read"  # the notes page records its reads against the consultation
# Reads of the patient's data: audited, but not changes, so a consultation's history leaves them out.
READS = frozenset({VIEWED, NOTES_READ})

# How a consultation's history names each change, in the staff pages' words ("... by Rita Desk").
HISTORY_LABELS = {
    "consultation.booked": "booked",
    "consultation.arrived": "marked arrived",
    "consultation.started": "call started",
    "consultation.fulfilled": "finished",
    "consultation.noshow": "marked a no-show",
    "consultation.cancelled": "cancelled",
    "consultation.rescheduled": "moved to another time",
    "consultation.link_resent": "booking link sent again",
    "companion.added": "invitation to join sent",
    "companion.removed": "invitation to join taken back",
    "consultation.meeting_replaced": "call moved to a new video room",
}


class HistoryLine(NamedTuple):
    """One change in a consultation's history: when, by whom (an audit actor), and what, in words."""

    occurred_at: datetime
    actor: str
    action: str
    what: str


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


def history(session: Session, consultation: Consultation) -> list[HistoryLine]:
    """What happened to the consultation, oldest first, in words: its changes, without the reads."""
    return [
        HistoryLine(event.occurred_at, event.actor, event.action, history_label(event.action))
        for event in audit.events_for(session, "consultation", consultation.id)
        if event.action not in READS
    ]


def history_label(action: str) -> str:
    """A change's words in the history; a kind without a label (none should lack one) by its last word."""
    return HISTORY_LABELS.get(action) or action.rpartition(".")[2].replace("_", " ")
