"""The waiting room's rules: when a consultation's room opens and closes, checking in, and joining.

The room opens `JoinWindow.before_start` ahead of the start. From then until the end the patient may
say "I'm here" (the consultation becomes arrived, which the clinician's schedule shows); from then
until `after_end` past the end the join button leads to the call. Companions join by the same rule
but do not check in: the clinician waits for the patient.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ..audit import Actor
from ..models import Consultation, ConsultationFacts, ConsultationStatus
from .errors import NotFound, NotNow
from .lifecycle import change_status
from .status import FINISHED, InvalidTransition

# Checked in already, as far as the patient is concerned: checking in again changes nothing.
_HERE = frozenset({ConsultationStatus.ARRIVED, ConsultationStatus.IN_PROGRESS})


@dataclass(frozen=True)
class JoinWindow:
    """How long before the start the room opens, how long after the end joining still works, and how late
    a patient may be before staff may call them a no-show.

    The same window lets the clinician start the call (see `consulting.start_call`).
    """

    before_start: timedelta
    after_end: timedelta
    noshow_grace: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "JoinWindow":
        """JOIN_WINDOW_MINUTES, JOIN_GRACE_MINUTES and NOSHOW_GRACE_MINUTES."""
        return cls(
            before_start=timedelta(minutes=int(config["JOIN_WINDOW_MINUTES"])),
            after_end=timedelta(minutes=int(config["JOIN_GRACE_MINUTES"])),
            noshow_grace=timedelta(minutes=int(config["NOSHOW_GRACE_MINUTES"])),
        )

    def opens_at(self, consultation: ConsultationFacts) -> datetime:
        return consultation.starts_at - self.before_start

    def closes_at(self, consultation: ConsultationFacts) -> datetime:
        return consultation.ends_at + self.after_end

    def is_open(self, consultation: ConsultationFacts, now: datetime) -> bool:
        return self.opens_at(consultation) <= now <= self.closes_at(consultation)


class Phase(enum.StrEnum):
    EARLY = "early"  # not open yet: a countdown and how to prepare
    OPEN = "open"  # check in (until the end) and join
    OVER = "over"  # the join link has stopped working, or the clinician closed the consultation
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Room:
    """What a consultation's waiting room offers at one moment."""

    phase: Phase
    opens_at: datetime
    time_zone: str  # the patient's, which the room's times are shown in
    checked_in: bool  # the patient said they are here, or the call has started
    can_check_in: bool
    meeting_ready: bool  # False while the outbox is still making the meeting
    contact_phone: str | None  # the department's: whom to call if the link does not come


def _phase(consultation: Consultation, now: datetime, window: JoinWindow) -> Phase:
    """Where the waiting room of `consultation` stands at `now` (its Room's phase)."""
    if consultation.status is ConsultationStatus.CANCELLED:
        return Phase.CANCELLED
    if consultation.status in FINISHED or now > window.closes_at(consultation):
        return Phase.OVER
    return Phase.EARLY if now < window.opens_at(consultation) else Phase.OPEN


class RoomClosed(NotNow):
    """Checking in or joining outside the room's hours, or once the consultation is cancelled or over;
    `room` says which, and when it opens."""

    code = "room_closed"

    def __init__(self, message: str, room: Room):
        super().__init__(message)
        self.room = room


def room(consultation: Consultation, now: datetime, window: JoinWindow) -> Room:
    """The waiting room of `consultation` as it stands at `now`."""
    phase = _phase(consultation, now, window)
    checked_in = consultation.status in _HERE
    return Room(
        phase=phase,
        opens_at=window.opens_at(consultation),
        time_zone=consultation.patient_time_zone,
        checked_in=checked_in,
        can_check_in=phase is Phase.OPEN and not checked_in and now <= consultation.ends_at,
        meeting_ready=bool(consultation.meeting_join_url),
        contact_phone=consultation.service.department.contact_phone,
    )


def in_time_for(
    status: ConsultationStatus, consultation: ConsultationFacts, now: datetime, window: JoinWindow
) -> bool:
    """Whether staff may set `status` at `now`: arrived while the patient could check in themselves
    (from the room's opening to the end); a no-show once the patient is `noshow_grace` late; done once it
    has begun, but for a patient waiting whose call never started only once that call can no longer
    start (until then its clinician starts it, and finishes it from the call)."""
    if status is ConsultationStatus.ARRIVED:
        return window.opens_at(consultation) <= now <= consultation.ends_at
    if status is ConsultationStatus.NOSHOW:
        return now >= consultation.starts_at + window.noshow_grace
    if status is ConsultationStatus.FULFILLED and consultation.status is ConsultationStatus.ARRIVED:
        return now > window.closes_at(consultation)
    if status is ConsultationStatus.FULFILLED:
        return now >= consultation.starts_at
    return True


def check_in(
    session: Session, consultation_id: int, *, now: datetime, actor: Actor, window: JoinWindow
) -> Consultation:
    """Mark the patient arrived; a no-op if they are already here or the call has started.

    RoomClosed (nothing changes) before the room opens, after the end, or once cancelled or over.
    """
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise NotFound("No such consultation.")
    state = room(consultation, now, window)
    if state.checked_in:
        return consultation
    if not state.can_check_in:
        raise RoomClosed(_refusal(state, "check in"), state)
    try:
        return change_status(session, consultation_id, ConsultationStatus.ARRIVED, now=now, actor=actor)
    except InvalidTransition:
        # The clinician started, ended or cancelled it a moment ago: fine if the call is on.
        session.refresh(consultation)
        state = room(consultation, now, window)
        if state.checked_in:
            return consultation
        raise RoomClosed(_refusal(state, "check in"), state) from None


def join_url(consultation: Consultation, now: datetime, window: JoinWindow) -> str:
    """The call's link while the room is open; RoomClosed, saying why, otherwise or while it is being made."""
    state = room(consultation, now, window)
    if state.phase is not Phase.OPEN:
        raise RoomClosed(_refusal(state, "join"), state)
    if not consultation.meeting_join_url:
        raise RoomClosed("The video link is still being prepared.", state)
    return consultation.meeting_join_url


def join_url_if_open(consultation: Consultation, now: datetime, window: JoinWindow) -> str | None:
    """The call's link when `join_url` gives it (the patient's page offers "Join"), else None: for a reader
    that shows a booking whatever its state, so a cancelled, moved or finished one carries no room address."""
    # join_url's answer without its Room, whose contact phone would load the service and its department:
    # a booking the API just made has them only as the columns it read (booking.Booked.service).
    if _phase(consultation, now, window) is not Phase.OPEN:
        return None
    return consultation.meeting_join_url or None


def join_as_patient(
    session: Session, consultation: Consultation, *, now: datetime, actor: Actor, window: JoinWindow
) -> str:
    """The call's link (see join_url) for the patient, who is checked in on the way while they still can
    be: a patient who presses "Join" without "I'm here" is waiting all the same, and their clinician
    should see so."""
    url = join_url(consultation, now, window)
    if room(consultation, now, window).can_check_in:
        check_in(session, consultation.id, now=now, actor=actor, window=window)
    return url


def _refusal(state: Room, action: str) -> str:
    if state.phase is Phase.CANCELLED:
        return "This consultation is cancelled."
    if state.phase is Phase.OVER:
        return "This consultation is over."
    if state.phase is Phase.EARLY:
        return f"It is too early to {action}: the waiting room is not open yet."
    return "The consultation's time has passed: it is too late to check in, but you can still join."
