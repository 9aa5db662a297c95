"""Who holds bookings: one consultation at a time per patient, a bounded number of future bookings per
e-mail address, and mailing a patient the link of the booking they already hold.

Bookings are anonymous, so a patient here is what a booking gives: an e-mail address (in any case) and
a date of birth. Each booking keeps the details given with it in a patient record of its own (see
`booking`), so these rules only read; matching people across bookings is left to staff.
"""

from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from ..audit import Actor
from ..jobs import outbox
from ..models import ACTIVE_STATUSES, Consultation, Patient
from ..models.driver import Statement, driver_batch, driver_rows
from ..models.people import email_key
from ..models.transactions import write_transaction
from .errors import AlreadyBooked, TooManyBookings
from .events import record_event
from .offered import OfferedService, active_service
from .patients import PatientDetails

# A patient may have their booking's link mailed again once in this long, however often they ask.
LINK_RESEND_INTERVAL = timedelta(minutes=15)


def lock_holder(session: Session, email: str | None) -> None:
    """Serialise, for the rest of the write transaction, the bookings made with this e-mail address.

    The clinicians' locks (see `locks`) do not: two bookings with different clinicians never meet
    there. Taken before any clinician's, always, so the two cannot deadlock. On SQLite the
    transaction's BEGIN IMMEDIATE already serialises every writer.
    """
    driver_batch(session, *holder_lock(session, email))


def holder_lock(session: Session, email: str | None) -> list[Statement]:
    """`lock_holder`'s statement, for a caller that sends it with the reads it guards (`driver_batch`);
    none on SQLite, or without an address."""
    if email is None or session.get_bind().dialect.name != "postgresql":
        return []
    return [(_HOLDER_LOCK, {"email_key": email_key(email)})]


# A 64-bit key hashed in SQL from the address, so the booking benchmark's pgbench twin varies it.
_HOLDER_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended('clinic.holder:' || :email_key, 0))")


def check_may_book(
    session: Session,
    service: OfferedService,
    patient: PatientDetails,
    start: datetime,
    now: datetime,
    max_per_email: int | None,
) -> None:
    """Raise AlreadyBooked if the patient holds a consultation overlapping this time, or TooManyBookings
    if their address holds `max_per_email` future bookings already (None or 0: no cap).

    Under `lock_holder`, so racing requests are counted one after the other.
    """
    if patient.email is None:  # booked by staff for someone without e-mail: nobody to match
        return
    end = start + timedelta(minutes=service.duration_minutes)
    held = _overlapping(patient.email, patient.birth_date, start, end)
    if not max_per_email:
        _refuse_held(driver_rows(session, *held))
        return
    future = (_FUTURE_BOOKINGS, {"email_key": email_key(patient.email), "now": now})
    held_rows, ((future_bookings,),) = driver_batch(session, held, future)
    _refuse_held(held_rows)
    if future_bookings >= max_per_email:
        phone = service.department.contact_phone
        raise TooManyBookings(
            f"This e-mail address already has {max_per_email} upcoming bookings, the most we take online. "
            f"Please cancel one first, or call us on {phone}.",
            contact_phone=phone,
        )


def check_not_held(
    session: Session,
    email: str,
    birth_date: date,
    start: datetime,
    end: datetime,
    *,
    moving: int | None = None,
) -> None:
    """Raise AlreadyBooked if this patient holds an active consultation (other than the one `moving`)
    overlapping start to end. Under `lock_holder`."""
    _refuse_held(driver_rows(session, *_overlapping(email, birth_date, start, end, moving)))


def _refuse_held(overlapping: list[tuple]) -> None:
    if overlapping:
        raise AlreadyBooked(
            "There is already a booking with this e-mail address and date of birth at that time."
        )


def resend_booking_link(
    session: Session,
    service_id: int,
    patient: PatientDetails,
    start: datetime,
    *,
    now: datetime,
    actor: Actor,
) -> None:
    """Mail the patient the link of their booking that overlaps `start` for this service, if there is one.

    Returns nothing either way, so a page can say the same whether or not a booking exists; each
    booking's link goes out at most once per LINK_RESEND_INTERVAL, however often this is asked.
    """
    if patient.email is None:
        return
    with write_transaction(session):
        service = active_service(session, service_id)
        lock_holder(session, patient.email)
        end = start + timedelta(minutes=service.duration_minutes)
        overlapping = driver_rows(session, *_overlapping(patient.email, patient.birth_date, start, end))
        if not overlapping:
            return
        _send_link_again(session, session.get_one(Consultation, overlapping[0][0]), now, actor)


def resend_link_of(session: Session, reference: str, *, now: datetime, actor: Actor) -> None:
    """Mail the link of the booking `reference` names again, to the address given with it, if that booking
    is still to come (or under way) and has one: for a patient whose link no longer opens it (cut short,
    mistyped). Returns nothing either way and mails at most once per LINK_RESEND_INTERVAL, as
    resend_booking_link; the mail goes only to the booking's own address."""
    with write_transaction(session):
        held = session.scalar(
            select(Consultation)
            .join(Patient)
            .where(
                Consultation.reference == reference.upper(),
                Consultation.status.in_(ACTIVE_STATUSES),
                Consultation.ends_at > now,
                Patient.email.is_not(None),
            )
        )
        if held is None:
            return
        lock_holder(session, held.patient.email)
        _send_link_again(session, held, now, actor)


def _send_link_again(session: Session, held: Consultation, now: datetime, actor: Actor) -> None:
    """Under lock_holder: the link of `held` mailed to its patient, unless it was in this interval."""
    if outbox.enqueue_link_resent(session, held, now, LINK_RESEND_INTERVAL):
        record_event(session, held, "consultation.link_resent", now, actor)


def _overlapping(
    email: str, birth_date: date, start: datetime, end: datetime, moving: int | None = None
) -> Statement:
    """The query for the id of the patient's first active consultation, other than `moving`, overlapping
    start to end."""
    parameters = {
        "email_key": email_key(email),
        "birth_date": birth_date,
        "start": start,
        "end": end,
        "moving": moving or 0,  # ids start at 1: 0 excludes nothing
    }
    return _OVERLAPPING, parameters


# Built once: every booking runs it, and building it costs more CPU than the database spends on it.
_OVERLAPPING = (
    select(Consultation.id)
    .join(Patient)
    .where(
        Patient.email_key == bindparam("email_key"),
        Patient.birth_date == bindparam("birth_date"),
        Consultation.status.in_(ACTIVE_STATUSES),
        Consultation.starts_at < bindparam("end"),
        Consultation.ends_at > bindparam("start"),
        Consultation.id != bindparam("moving"),
    )
    .order_by(Consultation.starts_at)
    .limit(1)
)


# Built once, as _OVERLAPPING: every online booking counts the address's future bookings.
_FUTURE_BOOKINGS = (
    select(func.count())
    .select_from(Consultation)
    .join(Patient)
    .where(
        Patient.email_key == bindparam("email_key"),
        Consultation.status.in_(ACTIVE_STATUSES),
        Consultation.ends_at > bindparam("now"),
    )
)
