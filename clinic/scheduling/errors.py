"""Errors the scheduling services raise; the web layer maps each to a page or problem+json."""

from datetime import datetime


class BookingError(Exception):
    """A request the booking rules refuse; the message is safe to show to the patient."""

    code = "booking_error"
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        if field:
            self.field = field


class NotFound(BookingError):
    code = "not_found"


class NotOffered(NotFound):
    """The clinician asked for does not offer the service, or not to this booker: said beside their field."""

    MESSAGE = "That clinician does not offer this service."
    field = "clinician"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class ClinicianNoLongerOffers(BookingError):
    """A booking moved without naming a clinician keeps its own, who no longer offers its service (or has
    left): it may move only to another who does."""

    code = "clinician_not_offering"
    field = "clinician"

    def __init__(self) -> None:
        super().__init__(
            "Your clinician no longer offers this service: to move the booking, choose a clinician who does."
        )


class InvalidRequest(BookingError):
    code = "invalid_request"


class SlotUnavailable(BookingError):
    """The time is not (or no longer) offered: outside hours, too soon, too far ahead, or taken."""

    code = "slot_unavailable"
    field = "start"

    def __init__(self, message: str, alternatives: list | None = None):
        super().__init__(message)
        self.alternatives = alternatives or []  # the next free Slots, to offer instead


class SlotTaken(SlotUnavailable):
    """Another booking won the race."""

    code = "slot_taken"


class PatientWaiting(SlotUnavailable):
    """A patient who checked in may be handed only to a call whose waiting room is open: staff's answer,
    beside the time (the API's patients cannot move a booking once they checked in)."""


class AlreadyAtThatTime(SlotUnavailable):
    """A move to the time the consultation has already (a form sent twice): nothing to change."""

    code = "already_at_that_time"


class IdempotencyConflict(BookingError):
    """An idempotency key reused for a different request."""

    code = "idempotency_conflict"


class AlreadyBooked(BookingError):
    """The patient (same e-mail and date of birth) already holds a consultation overlapping this time."""

    code = "already_booked"
    field = "start"


class TooManyBookings(BookingError):
    """The e-mail address already holds as many future bookings as one address may."""

    code = "too_many_bookings"

    def __init__(self, message: str, *, contact_phone: str = ""):
        super().__init__(message)
        self.contact_phone = contact_phone


class ChangeNotAllowed(BookingError):
    """Cancelling or rescheduling after the service's cut-off, or of a booking that is over."""

    code = "change_not_allowed"
    kind = "too_late"  # which page explains it: too_late, over or cancelled

    def __init__(self, message: str, *, contact_phone: str = "", deadline: datetime | None = None):
        super().__init__(message)
        self.contact_phone = contact_phone
        self.deadline = deadline


class ConsultationOver(ChangeNotAllowed):
    """The consultation has begun or is over: nothing is left to change online."""

    code = "invalid_transition"  # the API's word for a booking whose state forbids the change
    kind = "over"


class ConsultationCancelled(ChangeNotAllowed):
    """The booking is cancelled already: the patient may book `service_id` again instead (None once it is
    no longer offered: another service, then)."""

    code = "invalid_transition"
    kind = "cancelled"

    def __init__(self, message: str, *, service_id: int | None, contact_phone: str = ""):
        super().__init__(message, contact_phone=contact_phone)
        self.service_id = service_id


class NotNow(BookingError):
    """A step whose time has not come or has passed, e.g. starting a call hours early."""

    code = "not_now"


class MeetingNotReady(NotNow):
    """The video meeting is still being made (its outbox message has not run yet)."""

    code = "meeting_not_ready"


class OfferEnded(BookingError):
    """A waitlist offer that can no longer be taken: the patient may book `service_id` another way."""

    code = "offer_ended"

    def __init__(self, message: str, *, service_id: int):
        super().__init__(message)
        self.service_id = service_id


class OfferGone(OfferEnded):
    """Someone else took the time offered, or it was no longer free."""

    code = "offer_gone"


class OfferExpired(OfferEnded):
    """Nobody confirmed the offer in time, or the time has passed."""

    code = "offer_expired"
