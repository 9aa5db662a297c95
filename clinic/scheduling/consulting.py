"""The consultation as it happens: the clinician starting the call, staff moving its status on."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ..meetings import host_link_now
from ..models import Consultation, ConsultationStatus
from ..staff.members import StaffMember
from .agenda import CLINICIANS_OWN
from .clashes import clinic_absent
from .errors import ChangeNotAllowed, MeetingNotReady, NotFound, NotNow
from .lifecycle import change_status
from .status import check_transition
from .timezones import format_local, zone
from .visibility import consultation_for_staff
from .waiting_room import JoinWindow, Phase, in_time_for, room


def start_call(
    session: Session,
    viewer: StaffMember,
    consultation_id: int,
    *,
    now: datetime,
    window: JoinWindow,
    provider_settings: Mapping[str, Any],
) -> str:
    """Mark the consultation in progress (if it is not yet) and return the host link to open: one issued now
    where the provider's expire (`meetings.host_link_now`, with `provider_settings`, the app config).

    Only the consultation's clinician may start it, inside the join window, once the meeting exists.
    """
    consultation = consultation_for_staff(session, viewer, consultation_id)
    if not viewer.is_clinician_of(consultation):
        raise NotFound("No such consultation.")
    state = room(consultation, now, window)
    if state.phase is Phase.EARLY:
        when = format_local(state.opens_at, zone(consultation.clinician.time_zone))
        raise NotNow(f"This call can be started from {when}.")
    if state.phase is not Phase.OPEN:
        raise NotNow(f"This consultation is {state.phase.value}: its call cannot be started.")
    link = consultation.meeting_host_url or consultation.meeting_join_url
    if not link:
        raise MeetingNotReady("The video link is still being made. Try again in a minute.")
    if consultation.status is not ConsultationStatus.IN_PROGRESS:
        change_status(session, consultation.id, ConsultationStatus.IN_PROGRESS, now=now, actor=viewer.actor)
    # Asked once the start is committed: no lock is held while the provider answers.
    return host_link_now(consultation, provider_settings) or link


def set_status(
    session: Session,
    viewer: StaffMember,
    consultation_id: int,
    status: ConsultationStatus,
    *,
    now: datetime,
    window: JoinWindow,
) -> Consultation:
    """Change the status of a consultation `viewer` may see, if `check_status_change` allows it."""
    consultation = consultation_for_staff(session, viewer, consultation_id)
    check_status_change(session, viewer, consultation, status, now=now, window=window)
    return change_status(session, consultation.id, status, now=now, actor=viewer.actor)


def check_status_change(
    session: Session,
    viewer: StaffMember,
    consultation: Consultation,
    status: ConsultationStatus,
    *,
    now: datetime,
    window: JoinWindow,
) -> None:
    """Raise unless `viewer` may move `consultation` (one they may see) to `status` at `now`: NotFound if
    it is not theirs to change (finishing: its clinician only), InvalidTransition if the status table
    forbids it, NotNow if it is too early (arrived before the room opens, a no-show before the patient is
    late) or too late, ChangeNotAllowed for the no-show of a patient whose clinician was away (as
    housekeeping never marks one: lifecycle.mark_no_shows)."""
    if status in CLINICIANS_OWN and not viewer.is_clinician_of(consultation):
        raise NotFound("No such consultation.")
    check_transition(consultation.status, status)
    if not in_time_for(status, consultation, now, window):
        raise NotNow(_not_now(status, consultation, window))
    if status is ConsultationStatus.NOSHOW and clinic_absent(session, consultation, now):
        raise ChangeNotAllowed(
            f"{consultation.clinician.display_name} was away then (time off or a closure), so this is not "
            "the patient's no-show: move or cancel it, and the patient is told."
        )


def _not_now(status: ConsultationStatus, consultation: Consultation, window: JoinWindow) -> str:
    if status is ConsultationStatus.ARRIVED:
        return "A patient can be marked arrived from shortly before the start to the end."
    if status is ConsultationStatus.NOSHOW:
        minutes = int(window.noshow_grace.total_seconds() // 60)
        late = f"{minutes} minute{'s' * (minutes != 1)}"
        return f"A patient can be marked a no-show only once they are {late} late."
    if consultation.status is ConsultationStatus.ARRIVED:
        return "The patient is waiting: start the call, and finish it from there."
    return "This cannot be done at this time."
