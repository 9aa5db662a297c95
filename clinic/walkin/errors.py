"""Errors the walk-in services raise; each message is safe to show to whoever asked."""

from ..scheduling.errors import NotNow


class QueueNotOpen(NotNow):
    """Nobody may join now: the queue is paused, closed, or outside its opening hours."""

    code = "queue_not_open"


class NobodyWaiting(NotNow):
    code = "nobody_waiting"


class TakeRefused(NotNow):
    """The staff member may not take a caller now (not on duty, or busy with another consultation);
    `open_call`, the consultation id of their own walk-in call still open that refuses it, if one does."""

    code = "take_refused"

    def __init__(self, message: str, *, open_call: int | None = None) -> None:
        super().__init__(message)
        self.open_call = open_call


class AlreadyInQueue(NotNow):
    """Someone of the caller's name and contact already has a place in the queue."""

    code = "already_in_queue"


class SendBackRefused(NotNow):
    """A walk-in caller may not be sent back to the queue now, or not by this staff member."""

    code = "send_back_refused"
