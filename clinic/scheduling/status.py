"""Which status changes a consultation may go through: the one table every caller uses."""

from ..models import ConsultationStatus as S
from .errors import BookingError


class InvalidTransition(BookingError):
    code = "invalid_transition"


TRANSITIONS: dict[S, frozenset[S]] = {
    S.BOOKED: frozenset({S.ARRIVED, S.NO_SHOW, S.CANCELLED}),
    S.ARRIVED: frozenset({S.IN_PROGRESS, S.NO_SHOW, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.NO_SHOW: frozenset(),
    S.CANCELLED: frozenset(),
}

# Only a consultation that has not begun may move to another time.
RESCHEDULABLE = frozenset({S.BOOKED})


def check_transition(current: S, new: S) -> None:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"A {current.value} consultation cannot become {new.value}.")
