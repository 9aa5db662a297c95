"""Changes to a booked consultation: its status along the day, cancelling and rescheduling.

Each is one write transaction that locks what it changes (the clinicians involved, see `locks`, or
the consultation's row), re-reads the consultation, checks the change against the status table and
the service's rules, then writes the change with its outbox messages and audit event.
"""

import enum
from collections.abc import Collection
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..audit import SYSTEM, Actor
from ..jobs import outbox
from ..models import Consultation, ConsultationStatus, Patient, Service
from ..models.transactions import write_transaction
from .availability import Booker, free_clinician_ids, is_free, latest_start, service_clinicians, stays_put
from .booking import place, refusal
from .clashes import ABSENT, clashes_of, clinic_absent
from .errors import (
    AlreadyAtThatTime,
    ChangeNotAllowed,
    ClinicianNoLongerOffers,
    ConsultationCancelled,
    ConsultationOver,
    NotFound,
    NotOffered,
    PatientWaiting,
    SlotUnavailable,
)
from .events import record_event
from .holders import check_not_held, lock_holder
from .locks import locked_consultation
from .offered import OfferedService
from .status import RESCHEDULABLE, STAFF_MOVABLE, InvalidTransition, allowed_next, check_transition, is_over
from .tokens import LinkKeys, Proof, link_reference, manage_link_opens

# Status changes of the day, each with the time it stamps and its audit action; cancel() has its own.
_STEPS = {
    ConsultationStatus.ARRIVED: ("arrived_at", "consultation.arrived"),
    ConsultationStatus.IN_PROGRESS: ("started_at", "consultation.started"),
    ConsultationStatus.FULFILLED: ("ended_at", "consultation.fulfilled"),
    ConsultationStatus.NOSHOW: ("ended_at", "consultation.noshow"),
}


def change_status(
    session: Session, consultation_id: int, new_status: ConsultationStatus, *, now: datetime, actor: Actor
) -> Consultation:
    """Move a consultation along its day (arrived, in-progress, fulfilled, noshow); InvalidTransition
    if the status table forbids it. Cancelling sends mails, so it is `cancel`'s job."""
    if new_status not in _STEPS:
        raise InvalidTransition(f"A consultation cannot be set to {new_status.value} this way.")
    with write_transaction(session):
        consultation = session.get(
            Consultation, consultation_id, with_for_update=True, populate_existing=True
        )
        if consultation is None:
            raise NotFound("No such consultation.")
        check_transition(consultation.status, new_status)
        stamp, action = _STEPS[new_status]
        consultation.status = new_status
        if getattr(consultation, stamp) is None:  # a corrected no-show keeps when it ended
            setattr(consultation, stamp, now)
        record_event(session, consultation, action, now, actor)
    return consultation


def mark_no_shows(session: Session, *, now: datetime, after: timedelta, limit: int = 500) -> int:
    """Mark noshow the booked consultations that ended `after` ago or more and nobody acted on.

    A patient who checked in is not a no-show, so only `booked` ones qualify; nor one its clinician was
    away for (time off, a closure: clashes.ABSENT), which stays booked, listed among the clashes for staff
    to move or cancel, the patient told as any move or cancellation tells them. Returns how many.
    """
    with write_transaction(session):
        ended = session.scalars(  # those left booked in an absence are few: staff handle them
            select(Consultation)
            .where(Consultation.status == ConsultationStatus.BOOKED, Consultation.ends_at <= now - after)
            .order_by(Consultation.ends_at)
            .with_for_update(skip_locked=True)
        ).all()
        clashes = clashes_of(session, ended, now)
        missed = [c for c in ended if clashes.get(c.id) not in ABSENT][:limit]
        for consultation in missed:
            consultation.status = ConsultationStatus.NOSHOW
            consultation.ended_at = now
            record_event(session, consultation, "consultation.noshow", now, SYSTEM)
    return len(missed)


class Change(enum.StrEnum):
    """What may be done to a booking on the patient's behalf, until its call starts or its end."""

    CANCEL = "cancel"
    MOVE = "move"

    @property
    def done(self) -> str:
        return {Change.CANCEL: "cancelled", Change.MOVE: "moved"}[self]


# The statuses each change may be made in: a patient waiting may still be cancelled (the clinician cannot
# come), or handed to a colleague (see `reschedule`), until the call starts.
_CHANGEABLE = {
    Change.CANCEL: frozenset(
        status for status in ConsultationStatus if ConsultationStatus.CANCELLED in allowed_next(status)
    ),
    Change.MOVE: STAFF_MOVABLE,
}


def change_refusal(
    consultation: Consultation, change: Change, now: datetime, *, absent: bool = False
) -> ChangeNotAllowed | None:
    """Why `change` may not be made to the consultation at `now`, by staff or anyone; None if staff may
    (patients online are held to more: `check_online_change`). Never once its call has started or it is
    over, by its status or its end: a missed consultation is a no-show, not a cancellation; but one still
    booked past its end that its clinician was `absent` for (see `missed_in_absence`) was never the
    patient's to miss, and staff may still move or cancel it. Never for a walk-in call, which its queue
    ends (the caller leaves, or does not answer) or its clinician finishes."""
    if consultation.status is ConsultationStatus.CANCELLED:
        return ConsultationCancelled(
            "This consultation is cancelled.",
            service_id=consultation.service_id if consultation.service.offered else None,
            contact_phone=_phone(consultation),
        )
    over = is_over(consultation, now) and not (absent and consultation.status is ConsultationStatus.BOOKED)
    if over or consultation.status not in _CHANGEABLE[change]:
        return _too_far_along(consultation, change, over=over)
    if consultation.walk_in_entry is not None:
        return ChangeNotAllowed(
            "A walk-in call is not cancelled or moved: it ends when its clinician finishes it, or when the "
            "caller leaves the queue or does not answer.",
            contact_phone=_phone(consultation),
        )
    return None


def _phone(consultation: Consultation) -> str:
    """Whom to call about the consultation instead: its department's number, for every refusal to change it
    (read only for a refusal: staff pages ask `change_refusal` of each consultation they list)."""
    return consultation.service.department.contact_phone


def check_change(consultation: Consultation, change: Change, now: datetime, *, absent: bool = False) -> None:
    """Raise the `change_refusal`, if there is one."""
    if (refused := change_refusal(consultation, change, now, absent=absent)) is not None:
        raise refused


def missed_in_absence(session: Session, consultation: Consultation, now: datetime) -> bool:
    """Whether the consultation's end passed, still booked, while its clinician was away (clashes.ABSENT):
    staff may still move or cancel it (`change_refusal`)."""
    booked, ended = consultation.status is ConsultationStatus.BOOKED, now >= consultation.ends_at
    return booked and ended and clinic_absent(session, consultation, now)


def has_letter(consultation: Consultation) -> bool:
    """Whether staff may print the consultation's letter: its confirmation while it is booked, the notice
    of its cancellation once cancelled. Never for a walk-in call: its caller booked nothing to confirm, and
    its letter's link and code would open a call that their queue ends."""
    return (
        consultation.status in (ConsultationStatus.BOOKED, ConsultationStatus.CANCELLED)
        and not consultation.is_walk_in
    )


def staff_changes(consultation: Consultation, now: datetime, *, absent: bool = False) -> frozenset[Change]:
    """The changes staff may make to the consultation now: what its page offers."""
    return frozenset(
        change for change in Change if change_refusal(consultation, change, now, absent=absent) is None
    )


def cancel(
    session: Session,
    consultation_id: int,
    *,
    now: datetime,
    actor: Actor,
    reason: str = "",
    enforce_cutoff: bool = True,
) -> Consultation:
    """Cancel a consultation (patients, `enforce_cutoff`, only as `check_online_change` allows: before the
    service's cut-off and while nobody has acted on it, as their page offers, whichever way they ask)."""
    with write_transaction(session):
        consultation = locked_consultation(session, consultation_id)
        check_change(consultation, Change.CANCEL, now, absent=missed_in_absence(session, consultation, now))
        if enforce_cutoff:
            check_online_change(consultation, Change.CANCEL, now)
        consultation.status = ConsultationStatus.CANCELLED
        consultation.write_cancel_reason(session, reason)
        consultation.cancelled_at = now
        consultation.invite_sequence += 1
        outbox.enqueue_cancelled(session, consultation, now)
        record_event(session, consultation, "consultation.cancelled", now, actor)
    return consultation


def reschedule(
    session: Session,
    consultation_id: int,
    new_start: datetime,
    *,
    now: datetime,
    actor: Actor,
    clinician_id: int | None = None,
    enforce_cutoff: bool = True,
    room_opens: timedelta | None = None,
) -> Consultation:
    """Move a consultation to another free time, or to another clinician of its service, as the same
    consultation (reference, invite, companion, reason); AlreadyAtThatTime if it is there already.

    Patients may move it only while nobody has acted on it, up to the service's cut-off, and only to a time
    the service's notice ahead; staff may later, to any free time not yet started (`notice_minutes`), and
    may also move a patient who is waiting, who stays checked in, to a time whose waiting room is open
    already: `room_opens` before its start (see `waiting_room.JoinWindow`).
    """
    booker = Booker.of(actor)
    with write_transaction(session):
        lock_holder(session, _patient_email(session, consultation_id))  # before the clinicians' locks
        consultation = locked_consultation(session, consultation_id, clinician_id)
        check_change(consultation, Change.MOVE, now, absent=missed_in_absence(session, consultation, now))
        target = clinician_id or consultation.clinician_id
        if stays_put(consultation, target, new_start):
            raise AlreadyAtThatTime(  # a form sent again: no "moved" mail, no new invite, no event
                "This is already the consultation's time: nothing has changed."
            )
        if enforce_cutoff:  # the patient's own move
            check_online_change(consultation, Change.MOVE, now)
        elif consultation.status is ConsultationStatus.ARRIVED:
            _check_still_waiting(consultation, new_start, now, room_opens)
        service = consultation.service
        _check_offers(session, service, target, named=clinician_id is not None)
        moving = consultation.id
        if not is_free(session, service, new_start, now, target, exclude_consultation=moving, booker=booker):
            session.rollback()
            raise refusal(session, service.id, target, new_start, now, booker, moving=consultation)
        if (patient := consultation.patient).email is not None:
            new_end = new_start + timedelta(minutes=service.duration_minutes)
            check_not_held(
                session, patient.email, patient.birth_date, new_start, new_end, moving=consultation.id
            )
        before = _placed(consultation)
        consultation.clinician_id = target
        place(consultation, service, new_start)
        consultation.invite_sequence += 1
        outbox.enqueue_rescheduled(session, consultation, now, before["starts_at"], before["clinician_id"])
        moved = audit.changes(before, _placed(consultation))
        record_event(session, consultation, "consultation.rescheduled", now, actor, moved)
    return consultation


def reschedule_to_first_free(
    session: Session,
    consultation: Consultation,
    new_start: datetime,
    *,
    now: datetime,
    actor: Actor,
    allowed: Collection[int] | None = None,
    **options: Any,
) -> Consultation:
    """`reschedule` to `new_start` with the first clinician of its service free then (of those `allowed`,
    if given), never where it is, in id order as booking tries them: one found free may be taken before
    their lock is had, and then the next is tried. `options`: as for `reschedule`."""
    service, booker = consultation.service, Booker.of(actor)
    move = partial(reschedule, session, consultation.id, new_start, now=now, actor=actor, **options)
    free = free_clinician_ids(session, service, new_start, now, consultation.id, booker)
    candidates = [
        clinician_id
        for clinician_id in free
        if (allowed is None or clinician_id in allowed)
        and not stays_put(consultation, clinician_id, new_start)
    ]
    if not candidates:
        raise refusal(session, service.id, None, new_start, now, booker, moving=consultation)
    for candidate in candidates[:-1]:
        with suppress(SlotUnavailable):
            return move(clinician_id=candidate)
    return move(clinician_id=candidates[-1])


def keeps_clinician(session: Session, consultation: Consultation) -> bool:
    """Whether the booking's clinician still gives its service: not once an admin took it from them, or
    deactivated them. Its patient then moves it to whoever gives it (`reschedule_by_patient`)."""
    try:
        service_clinicians(session, consultation.service, consultation.clinician_id)
    except NotOffered:
        return False
    return True


def reschedule_by_patient(
    session: Session, consultation: Consultation, new_start: datetime, *, now: datetime, actor: Actor
) -> Consultation:
    """The patient's own move to `new_start`, with their clinician, or once that one no longer gives the
    service, with the first free then of those who do: the times their move page offers."""
    if keeps_clinician(session, consultation):
        return reschedule(session, consultation.id, new_start, now=now, actor=actor)
    return reschedule_to_first_free(session, consultation, new_start, now=now, actor=actor)


def _check_offers(session: Session, service: Service, clinician_id: int, *, named: bool) -> None:
    """NotOffered unless the clinician the booking moves to offers its service; ClinicianNoLongerOffers if
    that is its own clinician, not `named` by whoever moves it."""
    try:
        service_clinicians(session, service, clinician_id)
    except NotOffered:
        if named:
            raise
        raise ClinicianNoLongerOffers() from None


def _placed(consultation: Consultation) -> dict[str, Any]:
    """Where the consultation is, as its move's audit event records it: a UTC time and an id, no names."""
    return {"starts_at": consultation.starts_at.astimezone(UTC), "clinician_id": consultation.clinician_id}


def _check_still_waiting(
    consultation: Consultation, new_start: datetime, now: datetime, room_opens: timedelta | None
) -> None:
    """A patient who checked in may be moved only up to `availability.latest_start`, which the move pages
    offer alike."""
    if new_start > latest_start(consultation, now, room_opens):
        minutes = room_opens and room_opens // timedelta(minutes=1)
        within = f" that starts within {minutes} minutes" if minutes else ""
        raise PatientWaiting(
            f"{consultation.patient.name} has checked in and is waiting: move them to a time{within}"
            " (another clinician's, say), or cancel the consultation."
        )


def _patient_email(session: Session, consultation_id: int) -> str | None:
    # Read before any lock: a booking's patient record never changes (see booking._patient).
    query = select(Patient.email).join(Consultation).where(Consultation.id == consultation_id)
    return session.scalar(query)


def consultation_for_token(
    session: Session, reference: str, token: Proof, *, keys: LinkKeys, now: datetime, grace_days: int
) -> Consultation:
    """The consultation a manage link names, or NotFound for a wrong, unknown or expired token."""
    ref = link_reference(reference)
    consultation = ref and session.scalar(select(Consultation).where(Consultation.reference == ref))
    opens = consultation and manage_link_opens(token, consultation, keys=keys, now=now, grace_days=grace_days)
    if not opens:
        raise NotFound("No booking matches this link.")
    return consultation


def change_deadline(consultation: Consultation) -> datetime:
    """The last moment the patient may cancel or reschedule online (the service's cut-off)."""
    return change_deadline_for(consultation.service, consultation.starts_at)


def change_deadline_for(service: Service | OfferedService, starts_at: datetime) -> datetime:
    """The last moment a booking of `service` starting at `starts_at` may be changed online."""
    return starts_at - change_cutoff(service)


def online_change_deadline(consultation: Consultation, service: Service | OfferedService) -> datetime | None:
    """`change_deadline`, while the booking is one the patient may change online at all (as
    `check_online_change` has it); None once it is not: cancelled, checked in, under way or over."""
    if consultation.status not in RESCHEDULABLE:
        return None
    return change_deadline_for(service, consultation.starts_at)


def first_changeable_start(service: Service | OfferedService, now: datetime) -> datetime:
    """The earliest start a booking made `now` could still be changed online: an earlier one is already
    past its change deadline when booked."""
    return now + change_cutoff(service)


def change_cutoff(service: Service | OfferedService) -> timedelta:
    """How long before the start online changes end."""
    return timedelta(minutes=service.cancel_cutoff_minutes)


def check_online_change(consultation: Consultation, change: Change, now: datetime) -> None:
    """Raise unless the patient may still make `change` online: what staff may (`change_refusal`), only while
    nobody has acted on it, and before its start and the service's cut-off (ChangeNotAllowed)."""
    check_change(consultation, change, now)
    if consultation.status not in RESCHEDULABLE or now >= consultation.starts_at:
        raise _too_far_along(consultation, change, over=False)
    _check_cutoff(consultation, now)


def _too_far_along(consultation: Consultation, change: Change, *, over: bool) -> ConsultationOver:
    when = "is over" if over else "has begun"
    return ConsultationOver(
        f"This consultation {when}: it can no longer be {change.done}.",
        contact_phone=_phone(consultation),
    )


def _check_cutoff(consultation: Consultation, now: datetime) -> None:
    deadline = change_deadline(consultation)
    if now > deadline:
        raise ChangeNotAllowed(
            "It is too late to change this booking online.",
            contact_phone=_phone(consultation),
            deadline=deadline,
        )
