"""Staff booking, moving and cancelling on a patient's behalf (a phone call, someone without a computer).

The same transactions as the patient's own, audited as the staff member, with the same mails to the
patient; staff are not held to the patient's online cut-off. What staff may book follows what they
may see: a clinician their own services with themselves, reception their department, admins any.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..hospital.catalogue import offered_services
from ..models import Clinician, Companion, Consultation, Service, StaffRole
from ..staff.members import StaffMember
from .availability import service_clinicians
from .booking import Booked, BookingRequest, book
from .companions import CompanionDetails, Removal, add_companion, remove_companion
from .errors import BookingError, NotFound, NotOffered
from .lifecycle import cancel, reschedule, reschedule_to_first_free
from .offered import active_service
from .tokens import LinkKeys
from .visibility import consultation_for_staff


def bookable_services(session: Session, viewer: StaffMember) -> list[Service]:
    """The services `viewer` may book for patients, by department then name."""
    return [service for service in offered_services(session) if _may_book(viewer, service)]


def bookable_clinicians(session: Session, viewer: StaffMember, service: Service) -> list[Clinician]:
    """Who `viewer` may book `service` with: a clinician only themselves."""
    clinicians = service_clinicians(session, service)
    if viewer.role is StaffRole.CLINICIAN:
        return [c for c in clinicians if c.id == viewer.clinician_id]
    return clinicians


def bookable_service(session: Session, viewer: StaffMember, service_id: int) -> Service:
    """The service asked for, if `viewer` may book it; NotFound (beside the field) otherwise."""
    service = active_service(session, service_id)
    if not _may_book(viewer, service):
        raise NotFound("No such service is offered.", field="service")
    return service


def _may_book(viewer: StaffMember, service: Service) -> bool:
    if viewer.role is StaffRole.ADMIN:
        return True
    if viewer.role is StaffRole.RECEPTION:
        return service.department_id == viewer.department_id
    return any(c.id == viewer.clinician_id and c.active for c in service.clinicians)


def book_for_patient(
    session: Session,
    viewer: StaffMember,
    request: BookingRequest,
    *,
    now: datetime,
    keys: LinkKeys,
) -> Booked:
    """Book as `viewer` on the patient's behalf; NotFound if the service or clinician is not theirs."""
    service = bookable_service(session, viewer, request.service_id)
    allowed = {c.id for c in bookable_clinicians(session, viewer, service)}
    if request.clinician_id is None and viewer.role is StaffRole.CLINICIAN:
        raise NotFound("Choose yourself as the clinician.", field="clinician")
    if request.clinician_id is not None and request.clinician_id not in allowed:
        raise NotOffered()
    return book(session, request, now=now, keys=keys, actor=viewer.actor)


def move_for_patient(
    session: Session,
    viewer: StaffMember,
    consultation_id: int,
    new_start: datetime,
    *,
    now: datetime,
    clinician_id: int | None,
    room_opens: timedelta,
) -> Consultation:
    """Move a consultation `viewer` may see to a free time with a clinician of its service whom `viewer`
    may book (`clinician_id`: its own, or a colleague; None: the first free then), as the same consultation.
    A patient waiting may go only to a call whose waiting room is open, `room_opens` before its start."""
    consultation = consultation_for_staff(session, viewer, consultation_id)
    allowed = {c.id for c in bookable_clinicians(session, viewer, consultation.service)}
    if clinician_id is not None and clinician_id not in allowed:
        raise NotOffered()
    options = {"now": now, "actor": viewer.actor, "enforce_cutoff": False, "room_opens": room_opens}
    if clinician_id is not None:
        return reschedule(session, consultation_id, new_start, clinician_id=clinician_id, **options)
    return reschedule_to_first_free(session, consultation, new_start, allowed=allowed, **options)


@dataclass(frozen=True)
class GroupMove:
    """What moving several bookings to colleagues did: those moved, and those that could not be, with why."""

    moved: list[Consultation]
    refused: list[tuple[int, str]]  # a consultation's id, and why it stays where it is


def move_to_first_free(
    session: Session,
    viewer: StaffMember,
    consultation_ids: list[int],
    *,
    now: datetime,
    room_opens: timedelta,
) -> GroupMove:
    """Move each consultation to the first clinician of its service free at its own time (a colleague: it
    cannot stay where it is), each in a transaction of its own, as one move would."""
    moved, refused = [], []
    for consultation_id in consultation_ids:
        start = consultation_for_staff(session, viewer, consultation_id).starts_at
        try:
            moved.append(
                move_for_patient(
                    session, viewer, consultation_id, start, now=now, clinician_id=None, room_opens=room_opens
                )
            )
        except BookingError as why:
            refused.append((consultation_id, str(why)))
    return GroupMove(moved, refused)


def cancel_for_patient(
    session: Session,
    viewer: StaffMember,
    consultation_id: int,
    *,
    now: datetime,
    reason: str = "",
) -> Consultation:
    """Cancel a consultation `viewer` may see, at any time before it is over; the patient is told by mail."""
    consultation_for_staff(session, viewer, consultation_id)
    return cancel(session, consultation_id, now=now, actor=viewer.actor, reason=reason, enforce_cutoff=False)


def invite_companion(
    session: Session,
    viewer: StaffMember,
    consultation_id: int,
    details: CompanionDetails,
    *,
    now: datetime,
    keys: LinkKeys,
) -> Companion:
    """Invite a second participant to a consultation `viewer` may see (replacing one already invited)."""
    consultation_for_staff(session, viewer, consultation_id)
    return add_companion(session, consultation_id, details, now=now, actor=viewer.actor, keys=keys)


def uninvite_companion(
    session: Session, viewer: StaffMember, consultation_id: int, *, now: datetime
) -> Removal:
    """Take back the invitation of a consultation's second participant; they are told by mail, and a call
    not over moves to a new meeting."""
    consultation_for_staff(session, viewer, consultation_id)
    return remove_companion(session, consultation_id, now=now, actor=viewer.actor)
