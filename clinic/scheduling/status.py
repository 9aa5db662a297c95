"""Which status changes a consultation may go through: the one table every caller uses.

The lifecycle follows FHIR's Appointment: booked → arrived (the patient checked in) → in-progress
(the call started) → fulfilled, or noshow, or cancelled. A call may start before the patient checks
in (they can join straight from the e-mail), and a no-show may be corrected to fulfilled by the
clinician who did see the patient. A patient who checked in is never a no-show, by staff or by
housekeeping: if their call never started, its clinician finishes the consultation.
"""

from datetime import datetime

from ..models import Consultation
from ..models import ConsultationStatus as S
from .errors import BookingError


class InvalidTransition(BookingError):
    code = "invalid_transition"


TRANSITIONS: dict[S, frozenset[S]] = {
    S.BOOKED: frozenset({S.ARRIVED, S.IN_PROGRESS, S.NOSHOW, S.CANCELLED}),
    S.ARRIVED: frozenset({S.IN_PROGRESS, S.FULFILLED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.FULFILLED}),
    S.FULFILLED: frozenset(),
    S.NOSHOW: frozenset({S.FULFILLED}),
    S.CANCELLED: frozenset(),
}

# How every staff page names each status: the schedule's badges, the consultation page, the notes.
STATUS_LABELS: dict[S, str] = {
    S.BOOKED: "Booked",
    S.ARRIVED: "Waiting",
    S.IN_PROGRESS: "In call",
    S.FULFILLED: "Done",
    S.NOSHOW: "No-show",
    S.CANCELLED: "Cancelled",
}

# How the patient's own pages name each status: their words, not the staff's ("Waiting", "No-show").
PATIENT_STATUS_LABELS: dict[S, str] = {
    S.BOOKED: "Booked",
    S.ARRIVED: "Checked in",
    S.IN_PROGRESS: "In progress",
    S.FULFILLED: "Completed",
    S.NOSHOW: "Missed",
    S.CANCELLED: "Cancelled",
}

# Only a consultation that has not begun may move to another time (the patient's own move, online).
RESCHEDULABLE = frozenset({S.BOOKED})
# Staff may also move a patient waiting for a call that has not started, to a colleague free now, say: they
# stay checked in (see `lifecycle.reschedule`).
STAFF_MOVABLE = RESCHEDULABLE | {S.ARRIVED}
# Over, whatever the clock says: the clinician saw the patient, or the patient did not come.
FINISHED = frozenset({S.FULFILLED, S.NOSHOW})


def check_transition(current: S, new: S) -> None:
    if new not in TRANSITIONS[current]:
        now, wanted = STATUS_LABELS[current], STATUS_LABELS[new]
        raise InvalidTransition(f"This consultation is marked “{now}”: it cannot become “{wanted}”.")


def allowed_next(current: S) -> frozenset[S]:
    """The statuses a consultation in `current` may move to."""
    return TRANSITIONS[current]


def is_over(consultation: Consultation, now: datetime) -> bool:
    """Whether the consultation is over: finished, or past its end whatever its status."""
    return consultation.status in FINISHED or now >= consultation.ends_at
