"""The booking transaction, which never double-books.

One short transaction: take the lock that serialises bookings with the patient's e-mail address and
check that they may book (see `holders`), take the lock that serialises bookings for the clinician
(see `locks`), re-check the time with the slot engine, then write the consultation, its outbox
messages and its audit event. On PostgreSQL an exclusion constraint on (clinician, blocked range) is
the backstop.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit import Actor
from ..jobs import outbox
from ..models import (
    ConsentMethod,
    Consultation,
    ConsultationStatus,
    IdempotencyKey,
    Patient,
    Service,
)
from ..models.driver import Statement, driver_batch, driver_rows
from ..models.inserts import insert_loaded, insert_statements
from ..models.transactions import begin_write, commit_as_written, end_transaction
from .availability import (
    Booker,
    find_new_slots,
    find_slots,
    free_clinician_ids,
    is_free,
    rules_for,
    service_clinicians,
)
from .calendars import load_calendars
from .companions import CompanionDetails, attach_companion
from .errors import AlreadyBooked, IdempotencyConflict, SlotTaken, SlotUnavailable, TooManyBookings
from .events import record_event
from .holders import check_may_book, holder_lock
from .idempotency import Fingerprint
from .idempotency import fingerprint as request_fingerprint
from .locks import clinician_locks
from .offered import OfferedService, offered_from, offered_lookup, offered_service
from .patients import PatientDetails
from .slots import Slot, available_slots
from .tokens import LinkKeys, manage_token, new_link_seed, reference_lookup, unused_reference

ALTERNATIVES_SHOWN = 5


@dataclass(frozen=True)
class Consent:
    """The patient's agreement to the privacy notice: which version, and how they gave it."""

    notice_version: str
    method: ConsentMethod = ConsentMethod.ONLINE


@dataclass(frozen=True)
class BookingRequest:
    service_id: int
    start: datetime
    patient: PatientDetails
    clinician_id: int | None = None  # None: the first available clinician
    reason: str = ""
    idempotency_key: str | None = None
    companion: CompanionDetails | None = None  # someone joining the patient, invited with them
    consent: Consent | None = None  # every page and the API give it; None only for demo and test data


@dataclass(frozen=True)
class Booked:
    consultation: Consultation
    manage_token: str
    service: OfferedService | None  # the consultation's, as the booking read it; None for a replay
    replayed: bool = False


def book(
    session: Session,
    request: BookingRequest,
    *,
    now: datetime,
    keys: LinkKeys,
    actor: Actor,
    max_per_email: int | None = None,
    on_booked: Callable[[Session, Consultation], None] | None = None,
) -> Booked:
    """Book the requested time, or raise SlotTaken (with the next free times) or SlotUnavailable;
    AlreadyBooked if the patient holds a consultation at that time, TooManyBookings if their e-mail
    address holds `max_per_email` future bookings already (None: no cap, as for staff), both only for a
    time that is offered.

    Staff booking for the patient may take any free time not yet started; anyone else is held to the
    service's minimum notice (`notice_minutes`).
    A request carrying an idempotency key that was seen before returns the booking it made.
    `on_booked` runs in the booking's transaction, before it commits (a waitlist offer is marked
    taken there); whatever it raises undoes the booking.
    """
    fingerprint = _fingerprint(request, keys)
    booker = Booker.of(actor)
    begin_write(session)
    try:
        # One round trip: the holder's lock first, then the booking made earlier with our idempotency key:
        # a twin request with the key waits at the lock, then sees the twin's booking.
        # The service read with them, as plain columns: the booking needs its rules and department only.
        # And whether a new reference is taken already, which waits on nothing either.
        reference, reference_holders = reference_lookup(Consultation.reference)
        *_, seen, offered, reference_held = driver_batch(
            session,
            *holder_lock(session, request.patient.email),
            _seen_key(request.idempotency_key),
            offered_lookup(request.service_id),
            reference_holders,
        )
        if seen:
            return _replay(session, seen[0], fingerprint, keys)
        if reference_held:
            reference = unused_reference(session, Consultation.reference)
        service = offered_from(offered)
        _check_may_book(session, service, request, now, max_per_email, booker)
        for clinician_id in _free_candidates(session, service, request, now, booker):
            locked = clinician_locks(session, clinician_id)  # sent with the check, which sees past it
            if is_free(session, service, request.start, now, clinician_id, first=locked, booker=booker):
                consultation = _insert(
                    session, service, clinician_id, request, reference, fingerprint.stored, now, keys, actor
                )
                if on_booked is not None:
                    on_booked(session, consultation)
                commit_as_written(session)
                return Booked(consultation, manage_token(keys, consultation), service)
        # Nothing written, only locks taken: a commit lets them go as a rollback would, and keeps what
        # psycopg prepared (a rollback makes it forget all of it: see end_transaction).
        session.commit()
    except IntegrityError:
        # The exclusion constraint or a unique index caught a race the lock did not.
        session.rollback()
    except BaseException:
        session.rollback()
        raise
    # A twin request with the same key may have taken the time while we waited for the lock.
    if request.idempotency_key and (seen := driver_rows(session, *_seen_key(request.idempotency_key))):
        return _replay(session, seen[0], fingerprint, keys)
    raise refusal(session, request.service_id, request.clinician_id, request.start, now, booker)


def next_free_times(
    session: Session,
    service: Service | OfferedService,
    after: datetime,
    now: datetime,
    clinician_id: int | None = None,
    booker: Booker = Booker.PATIENT,
    moving: Consultation | None = None,
) -> list[Slot]:
    """The next few free times from `after` that `booker` may book, or move `moving` to (as
    `find_new_slots` has them), for one who lost a race or asked too late."""
    window = (after, after + timedelta(days=14))
    if moving is None:
        slots = find_slots(session, service, *window, now, clinician_id, booker=booker)
    else:
        slots = find_new_slots(session, moving, *window, now, clinician_id, booker)
    unique, seen = [], set()
    for slot in slots:
        if slot.start not in seen:
            seen.add(slot.start)
            unique.append(slot)
        if len(unique) == ALTERNATIVES_SHOWN:
            break
    return unique


def _free_candidates(
    session: Session, service: OfferedService, request: BookingRequest, now: datetime, booker: Booker
) -> list[int]:
    """Ids of the clinicians worth locking, in id order (one order for everyone, so locks cannot
    deadlock). A named clinician is checked under the lock only: `is_free` reads their schedule then."""
    if request.clinician_id is not None:
        return [request.clinician_id]
    return free_clinician_ids(session, service, request.start, now, booker=booker)


def _check_may_book(
    session: Session,
    service: OfferedService,
    request: BookingRequest,
    now: datetime,
    max_per_email: int | None,
    booker: Booker,
) -> None:
    """`check_may_book`, whose refusals speak of the patient's other bookings, for a time that is offered;
    one that is not is refused as such (`refusal`), whatever the patient holds. Else anyone knowing a
    patient's e-mail address and date of birth could learn when they have consultations by asking for times
    nobody may book, which books nothing and tells the patient nothing."""
    try:
        check_may_book(session, service, request.patient, request.start, now, max_per_email)
    except (AlreadyBooked, TooManyBookings):
        clinician_id, start = request.clinician_id, request.start
        if not _offered_ignoring_bookings(session, service, clinician_id, start, now, booker):
            raise refusal(session, service.id, clinician_id, start, now, booker, offered=False) from None
        raise


def refusal(
    session: Session,
    service_id: int,
    clinician_id: int | None,
    start: datetime,
    now: datetime,
    booker: Booker = Booker.PATIENT,
    *,
    offered: bool | None = None,
    moving: Consultation | None = None,
) -> SlotUnavailable:
    """Taken (409, with alternatives) if only other bookings stand in the way, else unavailable.
    `offered`: whether the time is offered, bookings aside, if the caller knows; `moving`: the booking
    being moved there, whose alternatives are the times it may move to.

    Ends the transaction: the refusal is raised after the lock is let go.
    """
    service = offered_service(session, service_id)
    if offered is None:
        offered = _offered_ignoring_bookings(session, service, clinician_id, start, now, booker)
    alternatives = next_free_times(session, service, max(start, now), now, clinician_id, booker, moving)
    end_transaction(session)
    if offered:
        return SlotTaken("That time was just taken. Please choose another.", alternatives)
    return SlotUnavailable("That time is not available for booking.", alternatives)


def _offered_ignoring_bookings(
    session: Session,
    service: OfferedService,
    clinician_id: int | None,
    start: datetime,
    now: datetime,
    booker: Booker,
) -> bool:
    clinicians = service_clinicians(session, service, clinician_id)
    calendars = [
        replace(calendar, busy=())
        for calendar in load_calendars(session, clinicians, start, start + timedelta(seconds=1))
    ]
    slots = available_slots(rules_for(service, booker), calendars, start, start + timedelta(seconds=1), now)
    return any(slot.start == start for slot in slots)


def _insert(
    session: Session,
    service: OfferedService,
    clinician_id: int,
    request: BookingRequest,
    reference: str,
    fingerprint: str,
    now: datetime,
    keys: LinkKeys,
    actor: Actor,
) -> Consultation:
    patient = _patient(request.patient, now)
    insert_loaded(session, patient)
    consultation = Consultation(
        uuid=str(uuid.uuid4()),
        reference=reference,
        patient_id=patient.id,
        clinician_id=clinician_id,
        service_id=service.id,
        patient_time_zone=request.patient.time_zone,
        status=ConsultationStatus.BOOKED,
        link_seed=new_link_seed(),
        created_at=now,
        updated_at=now,
    )
    consultation.write_reason(session, request.reason)
    if request.consent is not None:
        consultation.consent_notice_version = request.consent.notice_version
        consultation.consent_method = request.consent.method
        consultation.consent_given_at = now
    place(consultation, service, request.start)
    # Known to have no companions yet: the mails to enqueue need not ask the database.
    insert_loaded(session, consultation, patient=patient, companions=[])
    if request.companion is not None:  # before the mails are enqueued, so theirs is among them
        attach_companion(session, consultation, request.companion, now=now, actor=actor, keys=keys)
    key = {"key": request.idempotency_key, "request_hash": fingerprint, "consultation_id": consultation.id}
    kept = insert_statements(IdempotencyKey, [key] if request.idempotency_key else [])
    consent = (
        {"privacy_notice": request.consent.notice_version, "consent": request.consent.method.value}
        if request.consent
        else {}
    )
    # Sent in the round trip of the audit chain's lock: nothing in the transaction reads them back.
    messages = [*kept, *outbox.booked_messages(consultation, now)]
    record_event(session, consultation, "consultation.booked", now, actor, first=messages, **consent)
    return consultation


def place(consultation: Consultation, service: Service | OfferedService, start: datetime) -> None:
    """Set the consultation's times, and the blocked range its buffers add, for a start at `start`."""
    consultation.starts_at = start
    consultation.ends_at = start + timedelta(minutes=service.duration_minutes)
    consultation.blocked_from = start - timedelta(minutes=service.buffer_before_minutes)
    consultation.blocked_until = consultation.ends_at + timedelta(minutes=service.buffer_after_minutes)


def _patient(details: PatientDetails, now: datetime) -> Patient:
    """A record of its own for the details given with this booking.

    Never an existing patient's: an anonymous request must not change anyone's stored details, nor
    file a booking under someone else because it knows their e-mail and date of birth.
    """
    return Patient(
        name=details.name,
        email=details.email,
        phone=details.phone,
        birth_date=details.birth_date,
        time_zone=details.time_zone,
        language=details.language,
        created_at=now,
    )


def _seen_key(key: str | None) -> Statement:
    """The lookup of the request hash and booking of idempotency `key` (without a key, NULL: no row)."""
    return _SEEN_KEY, {"key": key}


def booked_with_key(session: Session, key: str | None) -> Consultation | None:
    """The consultation that the booking request carrying idempotency `key` made, if one did."""
    made = session.execute(*_seen_key(key)).first() if key else None
    return session.get(Consultation, made.consultation_id) if made else None


def _replay(session: Session, seen: tuple[str, int], fingerprint: Fingerprint, keys: LinkKeys) -> Booked:
    """The booking an earlier request with the same key made, if it asked for the same: `seen` is that
    request's hash and booking."""
    request_hash, consultation_id = seen
    if not fingerprint.matches(request_hash):
        raise IdempotencyConflict("This idempotency key was already used for a different booking request.")
    consultation = session.get(Consultation, consultation_id)
    session.rollback()
    return Booked(consultation, manage_token(keys, consultation), None, replayed=True)


_SEEN_KEY = select(IdempotencyKey.request_hash, IdempotencyKey.consultation_id).where(
    IdempotencyKey.key == bindparam("key")
)


def _fingerprint(request: BookingRequest, keys: LinkKeys) -> Fingerprint:
    fields = dict(vars(request))
    del fields["idempotency_key"]
    return request_fingerprint(fields, keys)
