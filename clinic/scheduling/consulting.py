"""The consultation as it happens: when the call may be joined, starting it, staff moving its status on."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import Consultation, ConsultationStatus
from .agenda import CLINICIANS_OWN, Viewer, consultation_for_staff
from .errors import MeetingNotReady, NotFound, NotNow
from .lifecycle import change_status
from .timezones import format_local, zone


@dataclass(frozen=True)
class JoinWindow:
    """From `opens_before` the start until `closes_after` the end, a call may be joined or started."""

    opens_before: timedelta
    closes_after: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "JoinWindow":
        return cls(
            timedelta(minutes=int(config["JOIN_WINDOW_MINUTES"])),
            timedelta(minutes=int(config["JOIN_GRACE_MINUTES"])),
        )

    def opens_at(self, consultation: Consultation) -> datetime:
        return consultation.starts_at - self.opens_before

    def closes_at(self, consultation: Consultation) -> datetime:
        return consultation.ends_at + self.closes_after

    def is_open(self, consultation: Consultation, now: datetime) -> bool:
        return self.opens_at(consultation) <= now < self.closes_at(consultation)


def start_call(
    session: Session, viewer: Viewer, consultation_id: int, *, now: datetime, window: JoinWindow, actor: Actor
) -> str:
    """Mark the consultation in progress (if it is not yet) and return the host link to open.

    Only the consultation's clinician may start it, inside the join window, once the meeting exists.
    """
    consultation = consultation_for_staff(session, viewer, consultation_id)
    if consultation.clinician_id != viewer.clinician_id:
        raise NotFound("No such consultation.")
    if not window.is_open(consultation, now):
        when = format_local(window.opens_at(consultation), zone(consultation.clinician.time_zone))
        raise NotNow(f"This call can be started from {when} until shortly after it ends.")
    link = consultation.meeting_host_url or consultation.meeting_join_url
    if not link:
        raise MeetingNotReady("The video link is still being made. Try again in a minute.")
    if consultation.status is not ConsultationStatus.IN_PROGRESS:
        change_status(session, consultation.id, ConsultationStatus.IN_PROGRESS, now=now, actor=actor)
    return link


def set_status(
    session: Session,
    viewer: Viewer,
    consultation_id: int,
    status: ConsultationStatus,
    *,
    now: datetime,
    actor: Actor,
) -> Consultation:
    """Change the status of a consultation `viewer` may see (finishing: its clinician only).

    NotFound if it is not theirs to change, InvalidTransition if the status table forbids it.
    """
    consultation = consultation_for_staff(session, viewer, consultation_id)
    if status in CLINICIANS_OWN and consultation.clinician_id != viewer.clinician_id:
        raise NotFound("No such consultation.")
    return change_status(session, consultation.id, status, now=now, actor=actor)
