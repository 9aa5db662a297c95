"""A second participant (interpreter, relative or carer): their details, adding and removing them.

A companion has their own invite and their own join link (`/g/<reference>`, see `links.companion_url`),
follows the consultation's moves and cancellation, and has no say over the booking. One takes part
at a time: adding another replaces them. Removed companions stay on record for the audit trail.

Their join link leads to the call's meeting, whose address they may have kept: a companion taken out
of a call to come moves it to a new meeting (a relative removed for the patient's safety must not walk
back in), and the patient and clinician are sent its link.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor
from ..jobs import outbox
from ..models import Companion, CompanionRole, Consultation, ConsultationStatus
from ..models.people import email_key
from ..models.transactions import write_transaction
from .errors import ChangeNotAllowed, NotFound
from .events import record_event
from .locks import locked_consultation
from .patients import MAX_NAME, InvalidDetails, email_address, required_text
from .status import is_over
from .tokens import LinkKeys, Proof, companion_link_opens, link_reference, new_link_seed

# A companion may be added until the call is over: an interpreter is sometimes found at the last minute.
_OPEN = frozenset({ConsultationStatus.BOOKED, ConsultationStatus.ARRIVED, ConsultationStatus.IN_PROGRESS})


@dataclass(frozen=True)
class Removal:
    """A companion taken out of a consultation, and what became of its call."""

    companion: Companion
    new_room: bool  # the call moved to a new meeting, whose address they never had
    patient_mailed: bool  # the patient is sent its link (others join from their page, as before)


@dataclass(frozen=True)
class CompanionDetails:
    name: str
    email: str
    role: CompanionRole


def check_companion_details(
    *, name: object, email: object, role: object, smtputf8: bool = False
) -> CompanionDetails:
    """Normalised details, or InvalidDetails naming every wrong field (name, email, role); `smtputf8` is
    the MAIL_SMTPUTF8 setting (see `patients.email_address`)."""
    errors: dict[str, str] = {}
    clean_name = required_text(name, "name", MAX_NAME, errors, missing="Enter their full name.")
    address = email_address(email, errors, smtputf8=smtputf8, missing="Enter their e-mail address.")
    try:
        clean_role = CompanionRole(role)
    except ValueError:
        errors["role"] = "Choose interpreter, relative or carer."
    if errors:
        raise InvalidDetails(errors)
    return CompanionDetails(clean_name, address, clean_role)


def attach_companion(
    session: Session,
    consultation: Consultation,
    details: CompanionDetails,
    *,
    now: datetime,
    actor: Actor,
    keys: LinkKeys,
) -> Companion:
    """Add a companion to `consultation` in the caller's transaction, audited; only their token's hash
    is kept. The caller enqueues their mails (a booking's own mails include them)."""
    companion = Companion(
        uuid=str(uuid.uuid4()),
        name=details.name,
        email=details.email,
        role=details.role,
        link_seed=new_link_seed(),
        created_at=now,
    )
    consultation.companions.append(companion)
    session.flush()
    record_event(session, consultation, "companion.added", now, actor, companion_id=companion.id)
    return companion


def add_companion(
    session: Session,
    consultation_id: int,
    details: CompanionDetails,
    *,
    now: datetime,
    actor: Actor,
    keys: LinkKeys,
) -> Companion:
    """Invite a companion to a consultation that is not over yet (staff), replacing the one taking part.

    Enqueues their invitation (and the replaced one's cancellation) and plans their reminders; the one
    taking part invited again (the form sent twice) stays as they are, their call in its room.
    ChangeNotAllowed for a cancelled or finished consultation, NotFound for an unknown one.
    """
    with write_transaction(session):
        consultation = locked_consultation(session, consultation_id)
        if consultation.status not in _OPEN or now >= consultation.ends_at:
            raise ChangeNotAllowed("A companion can only be added before the consultation is over.")
        if (current := consultation.companion) is not None:
            if _same_person(current, details):
                return current
            _remove(session, consultation, current, now, actor)
        companion = attach_companion(session, consultation, details, now=now, actor=actor, keys=keys)
        outbox.enqueue_companion_invited(session, consultation, companion, now)
    return companion


def _same_person(companion: Companion, details: CompanionDetails) -> bool:
    """Whether `details` are those `companion` was invited with (the address in any case)."""
    invited = (companion.name, email_key(companion.email), companion.role)
    return invited == (details.name, email_key(details.email), details.role)


def remove_companion(session: Session, consultation_id: int, *, now: datetime, actor: Actor) -> Removal:
    """Uninvite the consultation's companion (staff): their link stops working and, if the consultation
    is not over, they are sent a cancellation and the call moves to a new meeting. NotFound if nobody
    is invited."""
    with write_transaction(session):
        consultation = locked_consultation(session, consultation_id)
        companion = consultation.companion
        if companion is None:
            raise NotFound("Nobody else is invited to this consultation.")
        removal = _remove(session, consultation, companion, now, actor)
    return removal


def companion_for_token(
    session: Session, reference: str, token: Proof, *, keys: LinkKeys, now: datetime, grace_days: int
) -> Companion:
    """The companion taking part whom a join link names; NotFound for any other token, a removed
    companion, or a consultation long over. A manage token never matches: it is derived differently."""
    ref = link_reference(reference)
    companion = ref and session.scalar(
        select(Companion)
        .join(Companion.consultation)
        .where(Consultation.reference == ref, Companion.removed_at.is_(None))
    )
    opens = companion and companion_link_opens(token, companion, keys=keys, now=now, grace_days=grace_days)
    if not opens:
        raise NotFound("No consultation matches this link.")
    return companion


def _remove(
    session: Session, consultation: Consultation, companion: Companion, now: datetime, actor: Actor
) -> Removal:
    companion.removed_at = now
    record_event(session, consultation, "companion.removed", now, actor, companion_id=companion.id)
    if not consultation.is_active or is_over(consultation, now):  # nothing to call off once it is over
        return Removal(companion, new_room=False, patient_mailed=False)
    # The invite changed for everyone: their CANCEL must carry a SEQUENCE above that of the last REQUEST
    # they were sent (RFC 5546 §3.2.5), or their calendar may take it as no newer and keep the call.
    consultation.invite_sequence += 1
    outbox.enqueue_companion_removed(session, consultation, companion, now)
    return _move_to_new_room(session, consultation, companion, now, actor)


def _move_to_new_room(
    session: Session, consultation: Consultation, companion: Companion, now: datetime, actor: Actor
) -> Removal:
    """Give the call a new meeting in place of the one whose address the removed companion may have
    kept; the pages say the link is being made until the worker has made it."""
    if consultation.meeting_external_id is None:  # none made yet: the one to come is new to them too
        return Removal(companion, new_room=False, patient_mailed=False)
    mailed = outbox.enqueue_new_room(session, consultation, now)
    record_event(
        session, consultation, "consultation.meeting_replaced", now, actor, companion_id=companion.id
    )
    return Removal(companion, new_room=True, patient_mailed=mailed)
