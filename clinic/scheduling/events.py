"""The audit events of a consultation: one shape for bookings, moves, the day's steps and companions,
and for reads of its patient's data, alone or in a page's list of consultations."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from .. import audit
from ..audit import REFUSED, Actor
from ..models import AuditEvent, Clinician, Consultation
from ..models.driver import Statement
from ..models.transactions import write_transaction

VIEWED = "consultation.viewed"
NOTES_READ = "note.read"  # the notes page records its reads against the consultation
LISTED = "consultations.listed"  # a page listed consultations with their patients' names
# Reads of the patient's data: audited, but not changes, so a consultation's history leaves them out.
READS = frozenset({VIEWED, NOTES_READ, LISTED})
# Nor does it show who was refused it: that is no change either (see staff.refusals).
NOT_CHANGES = READS | {REFUSED}
# What a list's event is about: the list itself, named by `ListShown.key`.
LIST = "consultation_list"
# A list's event keeps the ids of this many consultations at most: a day (about 20) or a clinician's week
# fits; a busy department's week of hundreds would put kilobytes in each event that the admins' audit page
# shows and every verify reads again, where its scope and date already say which consultations it showed.
MAX_IDS_KEPT = 100

# How a consultation's history names each change, in the staff pages' words ("... by Rita Desk").
HISTORY_LABELS = {
    "consultation.booked": "booked",
    "consultation.taken": "taken from the walk-in queue",
    "consultation.arrived": "marked arrived",
    "consultation.started": "call started",
    "consultation.fulfilled": "finished",
    "consultation.noshow": "marked a no-show",
    "consultation.cancelled": "cancelled",
    "consultation.rescheduled": "moved",
    "consultation.link_resent": "booking link sent again",
    "companion.added": "invitation to join sent",
    "companion.removed": "invitation to join taken back",
    "consultation.meeting_replaced": "call moved to a new video room",
}


class Moved(NamedTuple):
    """What a move changed, as its history says it: the start, the clinician (by name), or both."""

    starts: tuple[datetime, datetime] | None
    clinicians: tuple[str, str] | None


class HistoryLine(NamedTuple):
    """One change in a consultation's history: when, by whom (an audit actor), and what, in words; for a
    move, from where to where."""

    occurred_at: datetime
    actor: str
    action: str
    what: str
    moved: Moved | None = None


def record_event(
    session: Session,
    consultation: Consultation,
    action: str,
    now: datetime,
    actor: Actor,
    changes: dict[str, Any] | None = None,
    first: Sequence[Statement] = (),
    **ids: int | str,
) -> None:
    """Audit a change to `consultation`, naming it by reference and clinician (and `changes`, the fields
    changed with what they were and became, see `audit.changes`; and the ids of other records the change
    touched, such as `companion_id`, or of the privacy notice agreed to). `first`: the change's own
    statements still to send (see `audit.record`)."""
    details: dict = {"reference": consultation.reference, "clinician_id": consultation.clinician_id, **ids}
    details.update(changes or {})
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


def record_read(
    session: Session,
    consultation: Consultation,
    view: str,
    now: datetime,
    actor: Actor,
    *,
    again_after: timedelta | None = None,
    **ids: int,
) -> None:
    """Audit that `actor` read the consultation's patient data on `view` (a page or an API call), in a
    transaction of its own: reads of patient data are events too. With `again_after` (a page's polling):
    only if `actor` has no read of the consultation recorded within that long before `now`. `ids`: of the
    reader's own record, such as a companion's `companion_id`."""
    since = now - again_after if again_after is not None else None
    entity_id = str(consultation.id)
    if since is not None and audit.recorded_since(session, actor, VIEWED, "consultation", entity_id, since):
        return
    with write_transaction(session):
        record_event(session, consultation, VIEWED, now, actor, view=view, **ids)


@dataclass(frozen=True)
class ListShown:
    """A page's list of consultations, by what it lists: the page ("day", "week", "clashes", "hours"), whose
    consultations (a department's, a clinician's, or both: one clinician's of a department) and when (the
    day shown, or the Monday of the week shown; None for a list of everything still to come)."""

    page: str
    department_id: int | None
    clinician_id: int | None = None
    day: date | None = None

    @property
    def key(self) -> str:
        """The list's name as its events' entity id, such as "day 2026-12-07 department 3 clinician 7"."""
        whose = (("department", self.department_id), ("clinician", self.clinician_id))
        parts = [self.page, self.day and self.day.isoformat()]
        parts += [f"{name} {value}" for name, value in whose if value is not None]
        return " ".join(part for part in parts if part)

    def details(self, consultation_ids: Sequence[int]) -> dict:
        """What its event records: the page, its scope and date, how many consultations it showed and,
        up to MAX_IDS_KEPT, which: ids only, never a patient's name."""
        scope = {
            "page": self.page,
            "department_id": self.department_id,
            "clinician_id": self.clinician_id,
            "day": self.day.isoformat() if self.day else None,
        }
        details = {name: value for name, value in scope.items() if value is not None}
        details["count"] = len(consultation_ids)
        if len(consultation_ids) <= MAX_IDS_KEPT:
            details["consultation_ids"] = list(consultation_ids)
        return details


def record_list_read(
    session: Session,
    shown: ListShown,
    consultation_ids: Sequence[int],
    now: datetime,
    actor: Actor,
    *,
    again_after: timedelta | None = None,
) -> None:
    """Audit that `actor` was shown the consultations `consultation_ids` (their patients' names) on `shown`,
    in a transaction of its own, as `record_read`; an empty list shows nobody and is not recorded. With
    `again_after`: only if `actor` has no record of the same list within that long before `now`."""
    if not consultation_ids:
        return
    since = now - again_after if again_after is not None else None
    if since is not None and audit.recorded_since(session, actor, LISTED, LIST, shown.key, since):
        return
    with write_transaction(session):
        audit.record(
            session,
            actor,
            LISTED,
            entity_type=LIST,
            entity_id=shown.key,
            now=now,
            details=shown.details(consultation_ids),
        )


def history(session: Session, consultation: Consultation) -> list[HistoryLine]:
    """What happened to the consultation, oldest first, in words: its changes, without the reads."""
    return [
        HistoryLine(
            event.occurred_at, event.actor, event.action, history_label(event.action), _moved(session, event)
        )
        for event in audit.events_for(session, "consultation", consultation.id)
        if event.action not in NOT_CHANGES
    ]


def _moved(session: Session, event: AuditEvent) -> Moved | None:
    """A move's from and to, as its event recorded them (ids and UTC times: names are looked up)."""
    before, after = event.details.get("from", {}), event.details.get("to", {})
    if event.action != "consultation.rescheduled" or not after:
        return None  # not a move, or one recorded before moves kept where they went
    starts = clinicians = None
    if "starts_at" in after:
        starts = (datetime.fromisoformat(before["starts_at"]), datetime.fromisoformat(after["starts_at"]))
    if "clinician_id" in after:
        names = [
            session.get(Clinician, before["clinician_id"]),
            session.get(Clinician, after["clinician_id"]),
        ]
        clinicians = tuple(c.display_name if c else "a former clinician" for c in names)
    return Moved(starts, clinicians)


def history_label(action: str) -> str:
    """A change's words in the history; a kind without a label (none should lack one) by its last word."""
    return HISTORY_LABELS.get(action) or action.rpartition(".")[2].replace("_", " ")
